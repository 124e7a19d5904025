"""`callbacks.layer_stats` for the members of a population: each member's row gets the numbers its
run alone's `LayerStatistics` adds (`act_mean/<layer>`, `dead/...`, `saturated/...`,
`grad_norm/...`, `weight_norm/...`).

The measuring is `LayerStatistics`'s own: one `Accumulator` per member and activation layer, fed
with that member's outputs of the layer (its slice of the stacked outputs in "chain", its own
module's outputs in "loop"), the gradient and weight norms taken with the same formula on the
member's slices of the stacked tensors, on the same batches (`every_n_batches`). So a member's
numbers equal its run alone's to float32 rounding.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from dlbench.callbacks.layer_stats import Accumulator, LayerStatistics, find_activations, find_layers, norm_of
from dlbench.models.activations import Maxout
from dlbench.population.batched import chain_of


def own_widths(model: nn.Module) -> dict[str, int]:
    """Each layer of a chain's output width in this member's own network (members of other widths
    are padded to the widest, `dlbench.population.padding`: its measured outputs are cut to these)."""
    widths, width = {}, 0
    for name, layer in chain_of(model) or []:
        if isinstance(layer, nn.Linear):
            width = layer.out_features
        elif isinstance(layer, Maxout):
            width //= layer.pieces
        widths[name] = width
    return widths


def enabled_layer_stats(members: list[Any]) -> LayerStatistics | None:
    """The members' (one) enabled `LayerStatistics`: its settings are in the group's identity."""
    for callback in members[0].callbacks:
        if isinstance(callback, LayerStatistics) and callback.enabled:
            return callback
    return None


class MemberLayerStatistics:
    """Every member's `LayerStatistics` numbers, measured on the population's step."""

    def __init__(self, settings: LayerStatistics, models: list[nn.Module], names: list[str]) -> None:
        """`models`: the members' own networks (their module types: each its own activation);
        `names`: the stacked parameters' names, in the order of `StackedNetwork.stacked`."""
        self.every_n_batches, self.saturation = settings.every_n_batches, settings.saturation
        self.activations = [find_activations(model) for model in models]
        self.widths = [own_widths(model) for model in models]
        layers = find_layers(models[0])
        index = {name: position for position, name in enumerate(names)}
        # each layer's own parameters, as positions in the stacked list (`parameters(recurse=False)`)
        self.layers = {
            layer: [index[f"{layer}.{name}" if layer else name] for name, _ in module.named_parameters(recurse=False)]
            for layer, module in layers.items()
        }
        self.weights = {
            layer: [index[f"{layer}.weight" if layer else "weight"]]
            if isinstance(getattr(module, "weight", None), Tensor)
            else self.layers[layer]
            for layer, module in layers.items()
        }
        self.measuring = False
        self._reset()

    def _reset(self) -> None:
        self.accumulators = [{name: Accumulator() for name in own} for own in self.activations]
        self.grad_sums: list[dict[str, Tensor | float]] = [dict.fromkeys(self.layers, 0.0) for _ in self.activations]
        self.grad_steps = 0

    def batch_start(self, batch_idx: int) -> None:
        self.measuring = batch_idx % self.every_n_batches == 0

    def observe(self, name: str, outputs: Tensor, member: int | None = None) -> None:
        """A layer's outputs: (members, batch, ...) for all members, or one member's own."""
        if not self.measuring:
            return
        if member is not None:  # a member's own module's outputs ("loop")
            module = self.activations[member].get(name)
            if module is not None:
                self.accumulators[member][name].add(module, outputs, self.saturation)
            return
        for m in range(outputs.shape[0]):  # the batched chain's (members, batch, widest units)
            module = self.activations[m].get(name)
            if module is not None:
                own, width = outputs[m], self.widths[m].get(name, 0)
                if 0 < width < own.shape[-1]:
                    own = own[..., :width]
                self.accumulators[m][name].add(module, own, self.saturation)

    def hooks(self, models: list[nn.Module]) -> list[Any]:
        """Forward hooks on the members' own activation modules, for "loop" (each runs its own)."""
        handles = []
        for m, model in enumerate(models):
            for name, module in find_activations(model).items():

                def record(module: nn.Module, inputs: Any, outputs: Any, name: str = name, m: int = m) -> None:
                    if isinstance(outputs, Tensor):
                        self.observe(name, outputs, m)

                handles.append(module.register_forward_hook(record))
        return handles

    @torch.no_grad()
    def after_backward(self, stacked: list[Tensor]) -> None:
        """`LayerStatistics.on_after_backward` on each member's slices of the stacked gradients."""
        if not self.measuring:
            return
        for m, sums in enumerate(self.grad_sums):
            for layer, positions in self.layers.items():
                grads = [stacked[p].grad[m] for p in positions if stacked[p].grad is not None]
                if grads:
                    norm = norm_of(grads)
                    sums[layer] = sums[layer] + norm
        self.grad_steps += 1

    @torch.no_grad()
    def rows(self, stacked: list[Tensor]) -> list[dict[str, float]]:
        """Each member's `LayerStatistics.epoch_statistics()` of this epoch; the sums start again."""
        rows = []
        for m, own in enumerate(self.activations):
            row: dict[str, float] = {}
            for name, module in own.items():
                for quantity, value in self.accumulators[m][name].results(module).items():
                    row[f"{quantity}/{name}"] = value
            for layer in self.layers:
                if self.grad_steps:
                    row[f"grad_norm/{layer}"] = float(self.grad_sums[m][layer]) / self.grad_steps
                tensors = [stacked[p][m] for p in self.weights[layer]]
                row[f"weight_norm/{layer}"] = float(norm_of(tensors))
            rows.append(row)
        self._reset()
        return rows
