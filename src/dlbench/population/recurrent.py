"""Recurrent layers written out step by step, so they run under `torch.func.vmap`.

`nn.LSTM`, `nn.GRU` and `nn.RNN` call one fused ATen kernel (`aten::lstm`, `aten::gru`,
`aten::rnn_tanh`, ...) for which vmap has no batching rule ("Batching rule not implemented for
aten::lstm.input"), so a population of recurrent networks cannot be vectorised through them.
`StepwiseRecurrent` takes the place of such a module inside the population's skeleton network: it
has the very same parameter names (`weight_ih_l0`, `bias_hh_l1_reverse`, ...) and shapes, so the
stacked parameters of the members' own `nn.LSTM`s are handed to it unchanged, and it computes
PyTorch's gate equations (those of ATen's reference CPU cells, `LSTMCell`, `GRUCell`,
`SimpleCell` in aten/src/ATen/native/RNN.cpp) with ordinary batched operations:

- LSTM: gates = (W_hh h + b_hh) + (W_ih x + b_ih), chunked i, f, g, o; c' = f*c + i*g; h' = o*tanh(c').
- GRU:  r = sigmoid(hh_r + ih_r), z = sigmoid(hh_z + ih_z), n = tanh(ih_n + r * hh_n),
        h' = (h - n) * z + n  (= (1 - z) * n + z * h).
- RNN:  h' = tanh(W_hh h + b_hh + W_ih x + b_ih) (or relu).

The input projections of all steps are made at once, as ATen does on the CPU. Results equal the
fused modules to float32 rounding (tested), not bit for bit: on the CPU PyTorch may run the fused
oneDNN kernel, which sums in its own order.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def mode_of(module: nn.RNNBase) -> str:
    """'lstm', 'gru', 'rnn_tanh' or 'rnn_relu' for a torch recurrent module."""
    if isinstance(module, nn.LSTM):
        return "lstm"
    if isinstance(module, nn.GRU):
        return "gru"
    return "rnn_relu" if getattr(module, "nonlinearity", "tanh") == "relu" else "rnn_tanh"


class StepwiseRecurrent(nn.Module):
    """A stand-in for `nn.LSTM` / `nn.GRU` / `nn.RNN` (batch_first, with biases, no projection),
    with the same parameters, computing the same function one time step at a time."""

    def __init__(self, source: nn.RNNBase) -> None:
        super().__init__()
        if not source.batch_first or not source.bias or getattr(source, "proj_size", 0):
            raise ValueError("StepwiseRecurrent takes batch_first recurrent layers with biases and no projection")
        self.mode = mode_of(source)
        self.hidden_size, self.num_layers = source.hidden_size, source.num_layers
        self.directions = 2 if source.bidirectional else 1
        self.dropout = float(source.dropout)
        for name, parameter in source.named_parameters():
            self.register_parameter(name, nn.Parameter(parameter.detach().clone()))

    def _cell(self, projected: Tensor, hidden: Tensor, cell: Tensor | None, w_hh: Tensor, b_hh: Tensor):
        """One step: `projected` is W_ih x + b_ih for this step."""
        recurrent = torch.nn.functional.linear(hidden, w_hh, b_hh)
        if self.mode == "lstm":
            gates = recurrent + projected
            i, f, g, o = gates.chunk(4, dim=-1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            cell = f * cell + i * g
            return o * cell.tanh(), cell
        if self.mode == "gru":
            ih_r, ih_z, ih_n = projected.chunk(3, dim=-1)
            hh_r, hh_z, hh_n = recurrent.chunk(3, dim=-1)
            reset = (hh_r + ih_r).sigmoid()
            update = (hh_z + ih_z).sigmoid()
            new = (ih_n + hh_n * reset).tanh()
            return (hidden - new) * update + new, None
        total = recurrent + projected
        return (total.relu() if self.mode == "rnn_relu" else total.tanh()), None

    def _direction(self, inputs: Tensor, layer: int, reverse: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        w_ih, w_hh = getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix)
        b_ih, b_hh = getattr(self, "bias_ih" + suffix), getattr(self, "bias_hh" + suffix)
        projected = torch.nn.functional.linear(inputs, w_ih, b_ih)  # (batch, steps, gates x hidden)
        batch, steps = inputs.shape[0], inputs.shape[1]
        hidden = inputs.new_zeros(batch, self.hidden_size)
        cell = inputs.new_zeros(batch, self.hidden_size) if self.mode == "lstm" else None
        outputs: list[Tensor] = [hidden] * steps
        order = range(steps - 1, -1, -1) if reverse else range(steps)
        for step in order:
            hidden, cell = self._cell(projected[:, step], hidden, cell, w_hh, b_hh)
            outputs[step] = hidden
        return torch.stack(outputs, dim=1), hidden, cell

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
        """(output (batch, steps, directions x hidden), h_n (layers x directions, batch, hidden)
        [, c_n for an LSTM]), as the torch module returns them with zero initial states."""
        finals_h: list[Tensor] = []
        finals_c: list[Tensor] = []
        layer_input = inputs
        for layer in range(self.num_layers):
            results = [self._direction(layer_input, layer, reverse) for reverse in (False, True)[: self.directions]]
            layer_input = (
                torch.cat([output for output, _, _ in results], dim=-1) if self.directions > 1 else results[0][0]
            )
            finals_h += [hidden for _, hidden, _ in results]
            finals_c += [cell for _, _, cell in results if cell is not None]
        h_n = torch.stack(finals_h, dim=0)
        if self.mode == "lstm":
            return layer_input, (h_n, torch.stack(finals_c, dim=0))
        return layer_input, h_n


def make_stepwise(model: nn.Module) -> nn.Module:
    """Replace, in place, every torch recurrent layer of `model` by its `StepwiseRecurrent`."""
    for name, child in list(model.named_children()):
        if isinstance(child, nn.RNNBase):
            setattr(model, name, StepwiseRecurrent(child))
        else:
            make_stepwise(child)
    return model
