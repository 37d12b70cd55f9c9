"""Classify names by language from their characters, in the style of PyTorch's "NLP from scratch" tutorial.

Two classifiers: a hand-written RNN cell (Linear on cat(input, hidden), LogSoftmax) trained with
updates written on p.data, and nn.RNN with nn.CrossEntropyLoss and optim.SGD.
"""
import random
import string

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)
category_lines = {
    "English": ["Smith", "Brown", "Taylor", "Walker"],
    "French": ["Dubois", "Lefevre", "Moreau", "Girard"],
    "Italian": ["Rossi", "Bianchi", "Romano", "Ricci"],
}
all_categories = list(category_lines)
n_categories = len(all_categories)
n_hidden = 12


def letterToIndex(letter):
    return all_letters.find(letter)


def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(RNN, self).__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = torch.tanh(self.i2h(combined))
        output = self.h2o(hidden)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


class CharRNNClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        return self.h2o(hidden[0])


def categoryFromOutput(output):
    top_n, top_i = output.topk(1)
    category_i = top_i[0].item()
    return all_categories[category_i], category_i


def pairs():
    return [(c, line) for c in all_categories for line in category_lines[c]]


def make_model():
    return RNN(n_letters, n_hidden, n_categories), CharRNNClassifier(n_letters, n_hidden, n_categories).to(device)


def train(models, steps=6):
    rnn, classifier = models
    rng = random.Random(0)
    criterion = nn.NLLLoss()
    learning_rate = 0.05
    losses, guesses = [], []
    for _ in range(steps):
        category, line = rng.choice(pairs())
        category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
        line_tensor = lineToTensor(line)
        hidden = rnn.initHidden()
        rnn.zero_grad()
        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)
        loss = criterion(output, category_tensor)
        loss.backward()
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)
        losses.append(loss.item())
        guesses.append(categoryFromOutput(output)[0])

    optimizer = optim.SGD(classifier.parameters(), lr=0.1, momentum=0.9)
    ce = nn.CrossEntropyLoss()
    classifier.train()
    for _ in range(steps):
        batch = [rng.choice(pairs()) for _ in range(3)]
        length = max(len(line) for _, line in batch)
        x = torch.zeros(length, len(batch), n_letters, device=device)
        for b, (_, line) in enumerate(batch):
            x[: len(line), b] = lineToTensor(line)[:, 0]
        y = torch.LongTensor([all_categories.index(c) for c, _ in batch]).to(device)
        optimizer.zero_grad()
        logits = classifier(x)
        loss = ce(logits, y)
        loss.backward()
        nn.utils.clip_grad_norm_(classifier.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        classifier.eval()
        probs = F.softmax(classifier(lineToTensor("Rossi")), dim=1)
        guesses.append(all_categories[probs.argmax(dim=1).item()])
    return losses, guesses
