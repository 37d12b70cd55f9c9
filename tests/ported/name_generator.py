"""Generate names one letter at a time, in the style of PyTorch's "generating names" tutorial.

A conditional RNN cell reads (category, letter, hidden); it is trained with teacher forcing (the true
previous letter as input), the loss summed with `loss += criterion(...)`, the targets reshaped with
unsqueeze_, and sampled greedily with topk.
"""
import random
import string

import torch
import torch.nn as nn
import torch.optim as optim

all_letters = string.ascii_letters + " .,;'-"
n_letters = len(all_letters) + 1  # plus EOS marker
category_lines = {"Greek": ["Nikos", "Eleni", "Dimitra"], "Scottish": ["Angus", "Fraser", "Murray"]}
all_categories = list(category_lines)
n_categories = len(all_categories)


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size, dropout=0.1):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(n_categories + input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(n_categories + input_size + hidden_size, output_size)
        self.o2o = nn.Linear(hidden_size + output_size, output_size)
        self.dropout = nn.Dropout(dropout)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, category, input, hidden):
        input_combined = torch.cat((category, input, hidden), 1)
        hidden = self.i2h(input_combined)
        output = self.i2o(input_combined)
        output_combined = torch.cat((hidden, output), 1)
        output = self.o2o(output_combined)
        output = self.dropout(output)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


def categoryTensor(category):
    li = all_categories.index(category)
    tensor = torch.zeros(1, n_categories)
    tensor[0][li] = 1
    return tensor


def inputTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li in range(len(line)):
        letter = line[li]
        tensor[li][0][all_letters.find(letter)] = 1
    return tensor


def targetTensor(line):
    letter_indexes = [all_letters.find(line[li]) for li in range(1, len(line))]
    letter_indexes.append(n_letters - 1)  # EOS
    return torch.LongTensor(letter_indexes)


def make_model():
    return RNN(n_letters, 16, n_letters, dropout=0.0)  # no dropout, so that both runs draw the same numbers


criterion = nn.NLLLoss()
learning_rate = 0.05


def train_step(rnn, category_tensor, input_line_tensor, target_line_tensor):
    target_line_tensor.unsqueeze_(-1)
    hidden = rnn.initHidden()
    rnn.zero_grad()
    loss = torch.Tensor([0])  # you can also just simply use ``loss = 0``
    for i in range(input_line_tensor.size(0)):
        output, hidden = rnn(category_tensor, input_line_tensor[i], hidden)
        l = criterion(output, target_line_tensor[i])
        loss += l
    loss.backward()
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)
    return output, loss.item() / input_line_tensor.size(0)


def sample(rnn, category, start_letter="A", max_length=8):
    with torch.no_grad():
        category_tensor = categoryTensor(category)
        input = inputTensor(start_letter)
        hidden = rnn.initHidden()
        output_name = start_letter
        for i in range(max_length):
            output, hidden = rnn(category_tensor, input[0], hidden)
            topv, topi = output.topk(1)
            topi = topi[0][0]
            if topi == n_letters - 1:
                break
            else:
                letter = all_letters[topi]
                output_name += letter
            input = inputTensor(letter)
        return output_name


def train(rnn):
    rng = random.Random(1)
    losses = []
    for _ in range(4):
        category = rng.choice(all_categories)
        line = rng.choice(category_lines[category])
        output, loss = train_step(rnn, categoryTensor(category), inputTensor(line), targetTensor(line))
        losses.append(loss)

    optimizer = optim.Adam(rnn.parameters(), lr=0.01)  # the same model, now with an optimizer and `loss = 0`
    for _ in range(4):
        category = rng.choice(all_categories)
        line = rng.choice(category_lines[category])
        input_line_tensor, target_line_tensor = inputTensor(line), targetTensor(line)
        hidden = rnn.initHidden()
        optimizer.zero_grad()
        loss = 0
        for i in range(input_line_tensor.size(0)):
            output, hidden = rnn(categoryTensor(category), input_line_tensor[i], hidden)
            loss += criterion(output, target_line_tensor[i].unsqueeze(0))
        loss.backward()
        optimizer.step()
        losses.append(loss.item() / input_line_tensor.size(0))
    return losses, [sample(rnn, c, s) for c in all_categories for s in "NAF"]
