"""How a population's members are stepped: each by its own torch optimizer, or all by one stacked update.

Each member keeps its own real torch optimizer (built from its config exactly as its standalone
run builds it, schedulers attached). Two ways step them (measured, see docs/dev/decisions.md):

- `MemberOptimizers`: each member's own optimizer steps its leaf views of the stacked parameters
  (`StackedNetwork.member_leaves`), in place. Any torch optimizer works, its state and
  `state_dict` are torch's own, and a member moves bit for bit as its run alone (the same code).
  Used for every network that runs member by member ("loop": convolutions, recurrent layers,
  dropout), where a member's update is big enough that one call per member costs nothing: on 8
  LeNets it is 5-13x faster than the stacked update, which makes new tensors where torch updates
  in place; and for any optimizer the stacked update does not cover.
- `StackedOptimizer`: the update of torch's single-tensor implementation (what torch runs on the
  CPU) applied once to the stacked parameters, hyperparameters as (members,) tensors. Kept for
  the tiny batched networks ("chain", and "vmap" on an accelerator), where a torch call per member
  per step is the whole step: on 16 and 64 Iris MLPs it is 12-44x faster than one torch optimizer
  per member (SGD and Adam, foreach or not). It applies the same operations in the same order:

  - `x.add(y, alpha=a)` becomes `torch.addcmul(x, y, a)` with `a` a per-member tensor: both are one
    fused multiply-add per element and give the same bits (tested), where `x + a * y` rounds twice;
  - numbers torch computes in Python double (`1 - dampening`, `lr / (1 - beta1**step)`, ...) are
    computed per member in float64 and rounded to float32 once, as torch's kernels round a Python
    scalar.

  SGD (momentum, dampening, Nesterov, weight decay), Adam and AdamW (bias correction, eps outside
  the square root, decoupled decay, amsgrad), Adagrad (lr_decay, initial accumulator) and RMSprop
  (momentum, centered) are covered; the perceptron rule is SGD.

Either way a member that is frozen (early stopped, diverged) keeps its parameters and state. Members
of other widths (`dlbench.population.padding`) step their own part of their padded rows: a member's
own optimizer steps views of its own shapes, and a stacked state is cut to the member's own
parameters' shapes when it is read back (its padding's state is zero: its gradients are).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from dlbench.population.padding import own_part

# torch.optim class -> the update this module applies (AdamW is Adam with decoupled_weight_decay).
KINDS = {
    torch.optim.SGD: "sgd",
    torch.optim.Adam: "adam",
    torch.optim.Adagrad: "adagrad",
    torch.optim.RMSprop: "rmsprop",
}
# Options that change which code path torch runs; they must be the same for every member.
SHARED_OPTIONS = (
    "maximize",
    "foreach",
    "fused",
    "capturable",
    "differentiable",
    "amsgrad",
    "centered",
    "decoupled_weight_decay",
)
# Per-member hyperparameters each kind reads (param_groups[0] keys; betas is split in two).
HYPER = {
    "sgd": ("lr", "momentum", "dampening", "weight_decay", "nesterov"),
    "adam": ("lr", "beta1", "beta2", "eps", "weight_decay"),
    "adagrad": ("lr", "lr_decay", "eps", "weight_decay", "initial_accumulator_value"),
    "rmsprop": ("lr", "alpha", "eps", "weight_decay", "momentum"),
}


def kind_of(optimizer: torch.optim.Optimizer) -> str | None:
    """'sgd', 'adam', 'adagrad' or 'rmsprop' for the optimizers this module vectorises, else None."""
    for cls in type(optimizer).__mro__:
        if cls in KINDS:
            return KINDS[cls]
    return None


def unsupported_reason(optimizers: Sequence[torch.optim.Optimizer]) -> str | None:
    """Why these members' optimizers cannot be one `StackedOptimizer`, or None when they can."""
    kinds = {kind_of(optimizer) for optimizer in optimizers}
    if None in kinds:
        name = next(type(o).__name__ for o in optimizers if kind_of(o) is None)
        return f"optimizer {name} has no vectorised version (sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw do)"
    if len(kinds) > 1:
        return f"members use different optimizer classes ({', '.join(sorted(map(str, kinds)))})"
    for optimizer in optimizers:
        if len(optimizer.param_groups) != 1:
            return "an optimizer with several parameter groups has no vectorised version"
    first = optimizers[0].param_groups[0]
    for option in SHARED_OPTIONS:
        values = {bool(optimizer.param_groups[0].get(option)) for optimizer in optimizers}
        if len(values) > 1 or (option in ("foreach", "fused", "capturable", "differentiable") and True in values):
            return f"optimizer option {option}={first.get(option)} has no vectorised version"
    return None


def _closure_loss(closure: Any) -> Any:
    """What a torch optimizer's `step(closure)` does first: the loss, evaluated with gradients on."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _copied(value: Any) -> Any:
    """A state dict as of now: tensors cloned, containers copied."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    return value


MEMBERS_OWN = {"dlbench_population": "each member's own optimizer state"}  # what a resumed population's fit loads


class MemberOptimizers(torch.optim.Optimizer):
    """The optimizer Lightning steps: each member's own torch optimizer over its leaf views.

    `leaves[m]` (parameter name -> a view of member `m`'s slice of the stacked parameter) take the
    place of the member's own parameters in its optimizer (its state moves with them); a step
    gives each active member its slices of the stacked gradients and calls its optimizer."""

    def __init__(
        self,
        stacked: Sequence[nn.Parameter],
        leaves: list[dict[str, Tensor]],
        models: Sequence[nn.Module],
        members: Sequence[torch.optim.Optimizer],
    ) -> None:
        stacked = list(stacked)
        super().__init__(stacked, {})
        self.stacked, self.members = stacked, list(members)
        self.leaves = [list(own.values()) for own in leaves]
        for own, model, optimizer in zip(leaves, models, self.members, strict=True):
            swap = {id(p): own[name] for name, p in model.named_parameters()}
            for group in optimizer.param_groups:
                for position, p in enumerate(group["params"]):
                    group["params"][position] = leaf = swap[id(p)]
                    if p in optimizer.state:
                        optimizer.state[leaf] = optimizer.state.pop(p)
        self.active = [True] * len(self.members)

    def set_active(self, active: Tensor) -> None:
        self.active = active.tolist()

    def refresh(self) -> None:
        """Nothing to read: each member's optimizer holds its own rates."""

    def stacked_state(self) -> dict[str, Tensor]:
        return {}  # each member's state is its own optimizer's (`member_state_dict`)

    def member_state_dict(self, member: int) -> dict[str, Any]:
        """Member `member`'s optimizer `state_dict()` now, copied."""
        return _copied(self.members[member].state_dict())

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A resumed population: each member's optimizer has its own state already (`resume_members`)."""
        if state_dict != MEMBERS_OWN:
            super().load_state_dict(state_dict)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = _closure_loss(closure)
        for member, (optimizer, leaves) in enumerate(zip(self.members, self.leaves, strict=True)):
            if not self.active[member]:
                continue
            for p, leaf in zip(self.stacked, leaves, strict=True):  # a leaf is the member's own part
                leaf.grad = own_part(p.grad[member], leaf.shape) if p.grad is not None else None
            optimizer.step()
            for leaf in leaves:
                leaf.grad = None
        return loss


def _column(values: Sequence[float], device: torch.device) -> Tensor:
    """Per-member numbers in float64 (as torch computes Python scalars), shape (members,)."""
    return torch.tensor([float(value) for value in values], dtype=torch.float64, device=device)


class StackedOptimizer(torch.optim.Optimizer):
    """One optimizer over stacked parameters (members, ...), each member with its own hyperparameters.

    `members` are the members' own torch optimizers; `refresh()` reads their current
    hyperparameters (a scheduler changes `lr` there) before the next step. `active` (members,)
    says which members still train.
    """

    def __init__(self, params: Sequence[nn.Parameter], members: Sequence[torch.optim.Optimizer]) -> None:
        reason = unsupported_reason(members)
        if reason is not None:
            raise ValueError(reason)
        params = list(params)
        super().__init__(params, {"lr": float(members[0].param_groups[0]["lr"])})
        self.members = list(members)
        self.kind = kind_of(members[0])
        group = members[0].param_groups[0]
        self.amsgrad = bool(group.get("amsgrad", False))
        self.centered = bool(group.get("centered", False))
        self.maximize = bool(group.get("maximize", False))
        self.decoupled = bool(group.get("decoupled_weight_decay", False))
        device = params[0].device
        self.active = torch.ones(len(self.members), dtype=torch.bool, device=device)
        self.steps = torch.zeros(len(self.members), dtype=torch.float64, device=device)
        self.hyper: dict[str, Tensor] = {}
        self.refresh()
        if self.kind == "adagrad":  # torch makes Adagrad's state in its constructor
            initial = self.hyper["initial_accumulator_value"]
            for p in params:
                self.state[p]["sum"] = self._cast(initial, p).expand_as(p).clone()
        self._take_members_state()

    @torch.no_grad()
    def _take_members_state(self) -> None:
        """The state the members' own optimizers hold (resumed from their checkpoints), stacked: the
        inverse of `member_state`. Nothing for members whose optimizers have not stepped."""
        stacked = self.param_groups[0]["params"]
        for member, optimizer in enumerate(self.members):
            own = [p for group in optimizer.param_groups for p in group["params"]]
            for p, theirs in zip(stacked, own, strict=True):
                for key, value in optimizer.state.get(theirs, {}).items():
                    if key == "step":
                        self.steps[member] = float(value)
                    elif isinstance(value, Tensor):
                        if key not in self.state[p]:
                            self.state[p][key] = torch.zeros_like(p)
                        own_part(self.state[p][key][member], value.shape).copy_(value)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A resumed population: the members' states were taken from their own optimizers."""
        if state_dict != MEMBERS_OWN:
            super().load_state_dict(state_dict)

    # -- hyperparameters ------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read every member's hyperparameters (float64, per member) from its own optimizer."""
        device = self.active.device
        groups = [optimizer.param_groups[0] for optimizer in self.members]
        for key in HYPER[self.kind]:
            if key in ("beta1", "beta2"):
                values = [float(group["betas"][0 if key == "beta1" else 1]) for group in groups]
            elif key == "nesterov":
                values = [1.0 if group.get("nesterov") else 0.0 for group in groups]
            else:
                values = [float(group[key]) for group in groups]
            self.hyper[key] = _column(values, device)
        self.param_groups[0]["lr"] = float(groups[0]["lr"])
        h = self.hyper
        # what torch computes from them in Python double, per member, and what the step branches on
        self.derived = {"-lr": -h["lr"], "decay": h["weight_decay"]}
        if self.kind == "sgd":
            self.derived.update(momentum=h["momentum"], undamped=1 - h["dampening"])
        elif self.kind == "adam":
            self.derived.update(beta2=h["beta2"], **{"1-beta1": 1 - h["beta1"], "1-beta2": 1 - h["beta2"]})
            self.derived.update(eps=h["eps"], decoupled=1 - h["lr"] * h["weight_decay"])
        elif self.kind == "rmsprop":
            self.derived.update(alpha=h["alpha"], eps=h["eps"], momentum=h["momentum"], **{"1-alpha": 1 - h["alpha"]})
        elif self.kind == "adagrad":
            self.derived.update(eps=h["eps"])
        self.any_decay = bool((h["weight_decay"] != 0).any())
        self.masks = {"decay": h["weight_decay"] != 0}
        if "momentum" in h:
            self.masks.update(momentum=h["momentum"] != 0 if self.kind == "sgd" else h["momentum"] > 0)
            self.any_momentum = bool(self.masks["momentum"].any())
        if self.kind == "sgd":
            self.masks["nesterov"] = h["nesterov"] != 0
        self._casts: dict[tuple[str, int, torch.dtype], Tensor] = {}

    def _c(self, key: str, like: Tensor) -> Tensor:
        """Derived per-member number `key` as `like`'s dtype, shaped to broadcast over it (cached)."""
        cache_key = (key, like.dim(), like.dtype)
        value = self._casts.get(cache_key)
        if value is None:
            source = self.masks[key[5:]] if key.startswith("mask:") else self.derived[key]
            value = source.view(-1, *([1] * (like.dim() - 1)))
            if not key.startswith("mask:"):
                value = value.to(like.dtype)
            self._casts[cache_key] = value
        return value

    @staticmethod
    def _cast(values: Tensor, like: Tensor) -> Tensor:
        """Per-member float64 numbers as `like`'s dtype, shaped to broadcast over a (members, ...) tensor."""
        return values.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    @staticmethod
    def _where(mask: Tensor, like: Tensor) -> Tensor:
        """A per-member boolean (members,) shaped to broadcast over a (members, ...) tensor."""
        return mask.view(-1, *([1] * (like.dim() - 1)))

    def set_active(self, active: Tensor) -> None:
        self.active = active.to(self.active.device)

    # -- the step ------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = _closure_loss(closure)
        # on the CPU asking costs nothing; on an accelerator it would make the host wait every step
        everyone = self.active.device.type == "cpu" and bool(self.active.all())
        self.steps = self.steps + 1 if everyone else torch.where(self.active, self.steps + 1, self.steps)
        self._step_casts: dict[tuple[str, int, torch.dtype], Tensor] = {}
        self._step_values: dict[str, tuple[Tensor, ...]] = {}
        update = getattr(self, f"_{self.kind}")
        for p in self.param_groups[0]["params"]:
            if p.grad is None:
                continue
            grad = -p.grad if self.maximize else p.grad
            state = self.state[p]
            new_param, new_state = update(p, grad, state)
            if everyone:
                p.copy_(new_param)
                state.update(new_state)
                continue
            keep = self._where(self.active, p)
            p.copy_(torch.where(keep, new_param, p))
            for key, value in new_state.items():
                old = state.get(key)
                state[key] = value if old is None else torch.where(keep, value, old)
        return loss

    def _per_step(self, key: str, values: Tensor, like: Tensor) -> Tensor:
        """A number that changes every step (bias corrections), cast once per step and shape."""
        cache_key = (key, like.dim(), like.dtype)
        value = self._step_casts.get(cache_key)
        if value is None:
            value = self._step_casts[cache_key] = self._cast(values, like)
        return value

    def _weight_decay(self, grad: Tensor, p: Tensor) -> Tensor:
        if not self.any_decay:
            return grad
        return torch.where(self._c("mask:decay", p), torch.addcmul(grad, p, self._c("decay", p)), grad)

    def _sgd(self, p: Tensor, grad: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        grad = self._weight_decay(grad, p)
        new_state: dict[str, Tensor] = {}
        if self.any_momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad.clone()
            else:
                buf = torch.addcmul(buf * self._c("momentum", p), grad, self._c("undamped", p))
            new_state["momentum_buffer"] = buf
            nesterov = torch.addcmul(grad, buf, self._c("momentum", p))
            stepped = torch.where(self._c("mask:nesterov", p), nesterov, buf)
            grad = torch.where(self._c("mask:momentum", p), stepped, grad)
        return torch.addcmul(p, grad, self._c("-lr", p)), new_state

    def _adam(self, p: Tensor, grad: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        h = self.hyper
        if self.decoupled:
            if self.any_decay:
                p = torch.where(self._c("mask:decay", p), p * self._c("decoupled", p), p)
        else:
            grad = self._weight_decay(grad, p)
        exp_avg = state.get("exp_avg", torch.zeros_like(p))
        exp_avg_sq = state.get("exp_avg_sq", torch.zeros_like(p))
        exp_avg = torch.lerp(exp_avg, grad, self._c("1-beta1", p))
        exp_avg_sq = torch.addcmul(exp_avg_sq * self._c("beta2", p), grad * self._c("1-beta2", p), grad)
        if "adam" not in self._step_values:
            bias_correction1 = 1 - h["beta1"] ** self.steps
            bias_correction2 = 1 - h["beta2"] ** self.steps
            self._step_values["adam"] = (-(h["lr"] / bias_correction1), bias_correction2**0.5)
        neg_step_size, bias_correction2_sqrt = self._step_values["adam"]
        new_state = {"exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}
        second = exp_avg_sq
        if self.amsgrad:
            second = torch.maximum(state.get("max_exp_avg_sq", torch.zeros_like(p)), exp_avg_sq)
            new_state["max_exp_avg_sq"] = second
        denom = (second.sqrt() / self._per_step("bc2", bias_correction2_sqrt, p)) + self._c("eps", p)
        return torch.addcdiv(p, exp_avg * self._per_step("-step", neg_step_size, p), denom), new_state

    def _adagrad(self, p: Tensor, grad: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        h = self.hyper
        grad = self._weight_decay(grad, p)
        if "adagrad" not in self._step_values:
            self._step_values["adagrad"] = (-(h["lr"] / (1 + (self.steps - 1) * h["lr_decay"])),)
        (neg_clr,) = self._step_values["adagrad"]
        total = torch.addcmul(state["sum"], grad, grad)
        std = total.sqrt() + self._c("eps", p)
        return torch.addcdiv(p, grad * self._per_step("-clr", neg_clr, p), std), {"sum": total}

    def _rmsprop(self, p: Tensor, grad: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        grad = self._weight_decay(grad, p)
        square_avg = state.get("square_avg", torch.zeros_like(p))
        square_avg = torch.addcmul(square_avg * self._c("alpha", p), grad * self._c("1-alpha", p), grad)
        new_state = {"square_avg": square_avg}
        if self.centered:
            grad_avg = torch.lerp(state.get("grad_avg", torch.zeros_like(p)), grad, self._c("1-alpha", p))
            new_state["grad_avg"] = grad_avg
            avg = torch.addcmul(square_avg, grad_avg, grad_avg, value=-1).sqrt()
        else:
            avg = square_avg.sqrt()
        avg = avg + self._c("eps", p)
        plain = torch.addcdiv(p, grad * self._c("-lr", p), avg)
        if not self.any_momentum:
            return plain, new_state
        buf = torch.addcdiv(state.get("momentum_buffer", torch.zeros_like(p)) * self._c("momentum", p), grad, avg)
        new_state["momentum_buffer"] = buf
        with_momentum = torch.addcmul(p, buf, self._c("-lr", p))
        return torch.where(self._c("mask:momentum", p), with_momentum, plain), new_state

    # -- one member's state, as its own torch optimizer holds it ---------------------------------
    def stacked_state(self) -> dict[str, Tensor]:
        """The state of every member as stacked tensors (what a checkpoint snapshot copies rows of)."""
        state = {}
        for index, p in enumerate(self.param_groups[0]["params"]):
            for key, tensor in self.state.get(p, {}).items():
                state[f"optimizer:{index}:{key}"] = tensor
        state["optimizer:steps"] = self.steps
        return state

    def member_state(
        self, member: int, stacked: dict[Any, dict[str, Tensor]] | None = None, steps: Tensor | None = None
    ) -> dict[int, dict[str, Tensor]]:
        """Member `member`'s optimizer state in torch's layout (parameter index -> state), copied.

        `stacked` and `steps` default to the state now; a checkpoint passes the state it kept."""
        stacked = self.state if stacked is None else stacked
        steps = self.steps if steps is None else steps
        count = float(steps[member])
        if count == 0 and self.kind != "adagrad":
            return {}  # torch makes SGD's, Adam's and RMSprop's state at the first step
        group = self.members[member].param_groups[0]
        shapes = [p.shape for p in group["params"]]  # the member's own parameters: its own widths
        step = torch.tensor(count, dtype=_scalar_dtype())
        states: dict[int, dict[str, Tensor]] = {}
        for index, p in enumerate(self.param_groups[0]["params"]):
            own_state = {key: own_part(value[member], shapes[index]) for key, value in stacked.get(p, {}).items()}
            own: dict[str, Tensor] = {}
            if self.kind == "sgd":
                if float(group["momentum"]) != 0 and "momentum_buffer" in own_state:
                    own["momentum_buffer"] = own_state["momentum_buffer"].clone()
            else:
                own["step"] = step.clone()
                for key in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "sum", "square_avg"):
                    if key in own_state:
                        own[key] = own_state[key].clone()
                if self.kind == "rmsprop":
                    if float(group["momentum"]) > 0:
                        own["momentum_buffer"] = own_state["momentum_buffer"].clone()
                    if self.centered:
                        own["grad_avg"] = own_state["grad_avg"].clone()
            if own:
                states[index] = own
        return states

    def member_state_dict_in(self, member: int, snapshot: dict[str, Tensor]) -> dict[str, Any]:
        """`member_state_dict` of the state a checkpoint snapshot kept (the keys of `stacked_state`)."""
        params = self.param_groups[0]["params"]
        state: dict[Any, dict[str, Tensor]] = {}
        for key, tensor in snapshot.items():
            if key.startswith("optimizer:") and key != "optimizer:steps":
                _, position, field = key.split(":", 2)
                state.setdefault(params[int(position)], {})[field] = tensor
        return self.member_state_dict(member, state, snapshot["optimizer:steps"])

    def member_state_dict(
        self, member: int, stacked: dict[Any, dict[str, Tensor]] | None = None, steps: Tensor | None = None
    ) -> dict[str, Any]:
        """What `member`'s own optimizer's `state_dict()` would be: its param_groups, its state."""
        optimizer = self.members[member]
        params = [p for group in optimizer.param_groups for p in group["params"]]
        kept = dict(optimizer.state)
        optimizer.state.clear()
        for index, own in self.member_state(member, stacked, steps).items():
            optimizer.state[params[index]] = own
        try:
            return optimizer.state_dict()
        finally:
            optimizer.state.clear()
            optimizer.state.update(kept)


def _scalar_dtype() -> torch.dtype:
    """The dtype torch keeps an optimizer's `step` in (torch.optim.optimizer._get_scalar_dtype)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def by_update(optimizers: Sequence[torch.optim.Optimizer]) -> list[list[int]]:
    """The members split into the fewest groups one `StackedOptimizer` each can step (same class and
    code path), in member order; [] when some member's optimizer has no stacked update at all."""
    groups: list[list[int]] = []
    for member, optimizer in enumerate(optimizers):
        if unsupported_reason([optimizer]) is not None:
            return []
        home = next((g for g in groups if unsupported_reason([optimizers[g[0]], optimizer]) is None), None)
        if home is None:
            groups.append([member])
        else:
            home.append(member)
    return groups


class StackedOptimizers(torch.optim.Optimizer):
    """Members of several optimizer classes on one stacked network (`optimizer._target_` is a
    per-member key): one `StackedOptimizer` per class (`by_update`), each over its own members' rows.

    A part keeps its members' rows of the parameters as its own (part members, ...) tensors: a step
    copies those rows and their gradients in, steps the part, and copies the rows back, so each
    class's update costs what its members cost (an update over every row per class, masked, was
    slower than one torch call per member on 30 digits MLPs). What a checkpoint snapshot reads
    (`stacked_state`) is given back in the members' order, (members, ...), as a `StackedOptimizer`'s.
    """

    def __init__(self, params: Sequence[nn.Parameter], members: Sequence[torch.optim.Optimizer]) -> None:
        groups = by_update(members)
        if not groups:
            raise ValueError("a member's optimizer has no stacked update")
        params = list(params)
        super().__init__(params, {"lr": float(members[0].param_groups[0]["lr"])})
        self.members = list(members)
        self.stacked = params
        device = params[0].device
        self.parts: list[tuple[StackedOptimizer, Tensor, list[nn.Parameter]]] = []
        self.where: dict[int, tuple[int, int]] = {}  # member -> (its part, its row there)
        for number, group in enumerate(groups):
            rows = torch.tensor(group, device=device)
            own = [nn.Parameter(p.detach().index_select(0, rows).clone()) for p in params]
            self.parts.append((StackedOptimizer(own, [members[index] for index in group]), rows, own))
            self.where.update({index: (number, row) for row, index in enumerate(group)})

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A resumed population: each part took its members' states from their own optimizers."""
        if state_dict != MEMBERS_OWN:
            super().load_state_dict(state_dict)

    def set_active(self, active: Tensor) -> None:
        for part, rows, _ in self.parts:
            part.set_active(active.to(rows.device).index_select(0, rows))

    def refresh(self) -> None:
        for part, _, _ in self.parts:
            part.refresh()

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = _closure_loss(closure)
        for part, rows, own in self.parts:
            for mine, p in zip(own, self.stacked, strict=True):
                mine.copy_(p.index_select(0, rows))
                mine.grad = p.grad.index_select(0, rows) if p.grad is not None else None
            part.step()
            for mine, p in zip(own, self.stacked, strict=True):
                p.index_copy_(0, rows, mine)
        return loss

    def stacked_state(self) -> dict[str, Tensor]:
        members = len(self.members)
        state: dict[str, Tensor] = {}
        for number, (part, rows, _) in enumerate(self.parts):
            for key, value in part.stacked_state().items():
                full = value.new_zeros((members, *value.shape[1:]))
                state[f"part{number}:{key}"] = full.index_copy_(0, rows, value)
        return state

    def member_state_dict(self, member: int) -> dict[str, Any]:
        number, row = self.where[member]
        return self.parts[number][0].member_state_dict(row)

    def member_state_dict_in(self, member: int, snapshot: dict[str, Tensor]) -> dict[str, Any]:
        number, row = self.where[member]
        part, rows, _ = self.parts[number]
        prefix = f"part{number}:"
        own = {
            key[len(prefix) :]: value.index_select(0, rows) for key, value in snapshot.items() if key.startswith(prefix)
        }
        return part.member_state_dict_in(row, own)
