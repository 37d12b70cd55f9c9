"""A Transformer language model in the style of PyTorch's word_language_model example (TransformerModel).

Token embedding scaled by √d_model, sinusoidal positions in a registered buffer, nn.TransformerEncoder
with a causal mask (-inf above the diagonal), a linear decoder, log_softmax and NLLLoss, trained with
optim.Adam and clip_grad_norm_.  The model is also built with nn.Transformer's own causal mask.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

text = "abracadabra alakazam abracadabra"
chars = sorted(set(text))
data = torch.tensor([chars.index(c) for c in text], dtype=torch.long)
ntokens = len(chars)


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super(PositionalEncoding, self).__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Module):
    """Container module with an encoder, a transformer encoder, and a decoder."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super(TransformerModel, self).__init__()
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        encoder_layers = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)
        self.transformer_encoder = nn.TransformerEncoder(encoder_layers, nlayers, enable_nested_tensor=False)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        self.init_weights()

    def _generate_square_subsequent_mask(self, sz):
        return torch.log(torch.tril(torch.ones(sz, sz)))

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, src, has_mask=True):
        if has_mask:
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                mask = self._generate_square_subsequent_mask(len(src))
                self.src_mask = mask
        else:
            self.src_mask = None
        src = self.encoder(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.transformer_encoder(src, self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)


class TinyGPT(nn.Module):
    """The same idea with batch_first, pre-norm layers, GELU, a final LayerNorm and nn.Transformer's mask."""

    def __init__(self, ntoken, d_model=8, nhead=2, nlayers=2):
        super().__init__()
        self.tok = nn.Embedding(ntoken, d_model)
        self.pos = nn.Parameter(torch.zeros(1, 16, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=16, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, nlayers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(d_model, d_model), nn.Tanh(), nn.Linear(d_model, ntoken))

    def forward(self, idx):
        T = idx.size(1)
        mask = nn.Transformer.generate_square_subsequent_mask(T)
        x = self.tok(idx) + self.pos[:, :T]
        x = self.blocks(x, mask=mask, is_causal=True)
        return self.head(x)


bptt = 6


def make_model():
    torch.manual_seed(0)
    gpt = TinyGPT(ntokens)
    nn.init.normal_(gpt.pos, std=0.02)
    return TransformerModel(ntokens, 8, 2, 16, 2, dropout=0.0), gpt


def train(models):
    model, gpt = models
    criterion = nn.NLLLoss()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    losses = []
    model.train()
    for i in range(0, len(data) - 1 - bptt, bptt):
        src = data[i:i + bptt].unsqueeze(1)  # (S, N=1)
        target = data[i + 1:i + 1 + bptt].reshape(-1)
        optimizer.zero_grad()
        output = model(src)
        loss = criterion(output.view(-1, ntokens), target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        optimizer.step()
        losses.append(loss.item())

    optimizer = optim.AdamW(gpt.parameters(), lr=0.01, weight_decay=0.1)
    xb = torch.stack([data[i:i + bptt] for i in (0, 5, 11)])
    yb = torch.stack([data[i + 1:i + 1 + bptt] for i in (0, 5, 11)])
    for step in range(4):
        logits = gpt(xb)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), yb.view(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    model.eval()
    with torch.no_grad():
        probs = model(data[:bptt].unsqueeze(1))[-1, 0].exp()
        losses.append(probs.sum().item())
    return losses, chars[int(probs.argmax())]
