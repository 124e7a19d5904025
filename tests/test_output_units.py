"""Output units and their losses, each against a hand computation on a small tensor and against a
library's implementation where one exists (torch.distributions, torch's losses, MONAI)."""

from __future__ import annotations

import math
import re

import pytest
import torch
from monai.losses import DiceLoss, GeneralizedWassersteinDiceLoss
from torch import nn

from dlbench.data.spec import DataSpec
from dlbench.errors import ConfigError
from dlbench.tasks.dice import SoftDiceLoss, WassersteinDiceLoss, check_class_distances
from dlbench.tasks.likelihoods import GaussianNLL, MixtureDensityNLL, SquaredError
from dlbench.tasks.losses import make_loss
from dlbench.tasks.output_units import check_output_fit, make_readout, network_outputs
from dlbench.tasks.segmentation_scores import SegmentationScores

BINARY = DataSpec("bits", (6,), 1, "binary")
CURVE = DataSpec("curve", (1,), 1, "regression")
IRIS = DataSpec("iris", (4,), 3, "multiclass")
PIXELS = DataSpec("shapes", (1, 2, 2), 3, "multiclass", per_pixel=True)
MASKS = DataSpec("masks", (1, 2, 2), 1, "binary", per_pixel=True)


# -- squared error, the 1986 form -----------------------------------------------------------------
def test_sse_is_half_the_summed_squared_error_of_sigmoid_outputs() -> None:
    outputs = torch.tensor([[0.0], [math.log(3.0)]])  # sigmoid: 0.5 and 0.75
    targets = torch.tensor([[1.0], [0.0]])
    sse = make_loss("sse", BINARY, reconstruct=False)
    assert sse(outputs, targets).item() == pytest.approx(0.5 * (0.5**2 + 0.75**2))  # 0.40625
    # gradient dE/dy = (y - t), times the sigmoid's y (1 - y)
    logits = outputs.clone().requires_grad_(True)
    sse(logits, targets).backward()
    expected = torch.tensor([[(0.5 - 1) * 0.25], [(0.75 - 0) * 0.75 * 0.25]])
    assert torch.allclose(logits.grad, expected)


def test_sse_on_a_linear_output_is_half_torchs_summed_mse() -> None:
    outputs, targets = torch.randn(5, 2), torch.randn(5, 2)
    assert make_loss("sse", CURVE, False)(outputs, targets).item() == pytest.approx(
        0.5 * nn.MSELoss(reduction="sum")(outputs, targets).item()
    )


def test_mse_on_binary_targets_compares_the_sigmoid_unless_the_unit_is_linear() -> None:
    outputs, targets = torch.tensor([[2.0], [-1.0]]), torch.tensor([[1.0], [1.0]])
    squashed = make_loss("mse", BINARY, False)
    assert isinstance(squashed, SquaredError) and squashed.sigmoid and not squashed.summed
    assert squashed(outputs, targets).item() == pytest.approx(nn.MSELoss()(torch.sigmoid(outputs), targets).item())
    linear = make_loss("mse", BINARY, False, output={"unit": "linear"})
    assert type(linear) is nn.MSELoss


# -- the Gaussian output --------------------------------------------------------------------------
def test_gaussian_nll_with_a_learned_variance_is_the_normal_log_density() -> None:
    mean, raw = torch.tensor([[0.5], [-1.0]]), torch.tensor([[0.3], [-2.0]])
    targets = torch.tensor([[0.0], [1.0]])
    variance = nn.functional.softplus(raw) + 1e-6
    hand = 0.5 * (torch.log(variance) + (targets - mean) ** 2 / variance + math.log(2 * math.pi))
    loss = make_loss("gaussian_nll", CURVE, False)
    assert loss(torch.cat([mean, raw], -1), targets).item() == pytest.approx(hand.mean().item(), rel=1e-6)
    library = -torch.distributions.Normal(mean, variance.sqrt()).log_prob(targets).mean()
    assert loss(torch.cat([mean, raw], -1), targets).item() == pytest.approx(library.item(), rel=1e-6)
    assert network_outputs("gaussian_nll", CURVE, None) == 2


def test_gaussian_nll_with_a_fixed_variance_of_one_half_is_mse_plus_a_constant() -> None:
    outputs = torch.randn(7, 1, requires_grad=True)
    targets = torch.randn(7, 1)
    gaussian = make_loss("gaussian_nll", CURVE, False, output={"variance": 0.5})
    value = gaussian(outputs, targets)
    (gradient,) = torch.autograd.grad(value, outputs)
    mse = nn.MSELoss()(outputs, targets)
    (mse_gradient,) = torch.autograd.grad(mse, outputs)
    assert value.item() - mse.item() == pytest.approx(0.5 * math.log(0.5) + 0.5 * math.log(2 * math.pi))
    assert torch.allclose(gradient, mse_gradient)
    assert network_outputs("gaussian_nll", CURVE, {"variance": 0.5}) == 1


# -- the mixture density output -------------------------------------------------------------------
def test_mixture_nll_is_the_mixture_log_density_of_torch_distributions() -> None:
    torch.manual_seed(0)
    outputs, targets = torch.randn(6, 2 * (1 + 2)), torch.randn(6, 1)
    loss = make_loss("mdn", CURVE, False, output={"components": 2})
    logits, means, log_scales = outputs[:, :2], outputs[:, 2:4], outputs[:, 4:6]
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=logits), torch.distributions.Normal(means, log_scales.exp())
    )
    assert loss(outputs, targets).item() == pytest.approx(-mixture.log_prob(targets[:, 0]).mean().item(), rel=1e-5)
    # by hand, the first example
    pi = torch.softmax(logits[0], 0)
    density = (pi * torch.exp(-0.5 * ((targets[0, 0] - means[0]) / log_scales[0].exp()) ** 2)).div(
        log_scales[0].exp() * math.sqrt(2 * math.pi)
    )
    assert loss.log_likelihood(outputs[:1], targets[:1]).item() == pytest.approx(density.sum().log().item(), rel=1e-5)
    assert network_outputs("mdn", CURVE, {"components": 2}) == 6


def test_one_component_mixture_is_the_gaussian_and_far_targets_stay_finite() -> None:
    mean, log_scale, targets = torch.tensor([[0.2]]), torch.tensor([[-0.5]]), torch.tensor([[1.0]])
    mixture = MixtureDensityNLL(1, 1)(torch.cat([torch.zeros(1, 1), mean, log_scale], -1), targets)
    gaussian = GaussianNLL(1, variance=math.exp(-1.0))(mean, targets)
    assert mixture.item() == pytest.approx(gaussian.item(), rel=1e-6)
    far = MixtureDensityNLL(1, 3)(
        torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.1, 0.2, -5.0, -5.0, -5.0]]), torch.tensor([[1e3]])
    )
    assert torch.isfinite(far) and far.item() > 1e6  # log-space: huge, never inf or nan


# -- dice ----------------------------------------------------------------------------------------
def test_binary_soft_dice_by_hand_and_as_monai_computes_it() -> None:
    logits = torch.tensor([[[[0.0, math.log(3.0)], [-math.log(3.0), 2.0]]]])  # (1, 1, 2, 2)
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    p = torch.sigmoid(logits)  # 0.5, 0.75, 0.25, 0.881
    hand = 1 - (2 * (0.5 + 0.75) + 1) / (p.sum().item() + 2 + 1)
    loss = make_loss("dice", MASKS, False)
    assert loss(logits, mask).item() == pytest.approx(hand, rel=1e-6)
    monai = DiceLoss(sigmoid=True, batch=True, smooth_nr=1.0, smooth_dr=1.0)
    torch.manual_seed(1)
    logits, mask = torch.randn(3, 1, 5, 5), (torch.rand(3, 1, 5, 5) > 0.7).float()
    assert loss(logits, mask).item() == pytest.approx(monai(logits, mask).item(), rel=1e-6)


def test_multiclass_soft_dice_by_hand_and_as_monai_computes_it() -> None:
    logits = torch.zeros(1, 3, 1, 2)  # every class 1/3 at both pixels
    labels = torch.tensor([[[0, 2]]])
    # class 0: overlap 1/3, sizes 2/3 + 1; class 1: overlap 0, sizes 2/3 + 0; class 2 as class 0
    dice = [(2 / 3 + 1) / (5 / 3 + 1), 1 / (2 / 3 + 1), (2 / 3 + 1) / (5 / 3 + 1)]
    loss = make_loss("dice", PIXELS, False)
    assert loss(logits, labels).item() == pytest.approx(1 - sum(dice) / 3, rel=1e-6)
    monai = DiceLoss(softmax=True, to_onehot_y=True, batch=True, smooth_nr=1.0, smooth_dr=1.0)
    torch.manual_seed(2)
    logits, labels = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    assert loss(logits, labels).item() == pytest.approx(monai(logits, labels.unsqueeze(1)).item(), rel=1e-6)


DISTANCES = [[0.0, 1.0, 1.0], [1.0, 0.0, 0.5], [1.0, 0.5, 0.0]]


def test_wasserstein_dice_by_hand_and_as_monai_computes_it() -> None:
    logits = torch.log(torch.tensor([[0.2, 0.5], [0.3, 0.2], [0.5, 0.3]])).reshape(1, 3, 1, 2)
    labels = torch.tensor([[[1, 0]]])
    # pixel 1 (class 1): W = 0.2*1 + 0.3*0 + 0.5*0.5 = 0.45; pixel 2 (background): W = 0.2 + 0.3 = 0.5
    tp = 1 - 0.45
    hand = 1 - (2 * tp + 1) / (2 * tp + 0.45 + 0.5 + 1)
    loss = make_loss("wasserstein_dice", PIXELS, False, output={"class_distances": DISTANCES})
    assert loss(logits, labels).item() == pytest.approx(hand, rel=1e-6)
    # MONAI scores each image; ours scores the batch, which is MONAI's on the images laid side by side
    monai = GeneralizedWassersteinDiceLoss(torch.tensor(DISTANCES), smooth_nr=1.0, smooth_dr=1.0)
    torch.manual_seed(3)
    logits, labels = torch.randn(4, 3, 5, 5), torch.randint(0, 3, (4, 5, 5))
    side_by_side = logits.permute(1, 0, 2, 3).reshape(1, 3, 4 * 5, 5)
    assert loss(logits, labels).item() == pytest.approx(
        monai(side_by_side, labels.reshape(1, 1, 20, 5)).item(), rel=1e-5
    )


def test_wasserstein_dice_with_all_distances_one_is_the_foregrounds_soft_dice() -> None:
    """Two classes, M = 1 - I: the Wasserstein dice is the soft dice of the foreground (Fidon et al.)."""
    torch.manual_seed(4)
    logits, labels = torch.randn(3, 2, 6, 6), torch.randint(0, 2, (3, 6, 6))
    wasserstein = WassersteinDiceLoss([[0.0, 1.0], [1.0, 0.0]], smooth=1.0)(logits, labels)
    foreground = torch.softmax(logits, 1)[:, 1:]
    soft_dice = SoftDiceLoss(smooth=1.0)(torch.logit(foreground), labels.unsqueeze(1).float())
    assert wasserstein.item() == pytest.approx(soft_dice.item(), rel=1e-5)


@pytest.mark.parametrize(
    ("matrix", "words"),
    [
        ([[0, 1], [1, 0]], "is 2x2, but the data has 3 classes"),
        ([[0, 1, 1], [1, 0, 0.5], [1, 0.4, 0]], "not symmetric"),
        ([[0, 1, 1], [1, 0.1, 0.5], [1, 0.5, 0]], "0 on the diagonal"),
        ([[0, 1, 1], [1, 0, 0], [1, 0, 0]], "distances > 0 between different classes"),
        ([[0, 1, 0.2], [1, 0, 0.5], [0.2, 0.5, 0]], "triangle inequality"),
        ([[0, 0.8, 0.8], [0.8, 0, 0.5], [0.8, 0.5, 0]], "at distance 1 from the background"),
        ("identity", "='identity' is not a matrix of numbers"),
        (0.5, "is a scalar, but the data has 3 classes"),
    ],
)
def test_a_class_distance_matrix_must_be_a_metric_of_the_right_shape(matrix, words) -> None:
    with pytest.raises(ConfigError) as error:
        check_class_distances(matrix, 3)
    message = str(error.value)
    assert words in message
    assert message.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", message), f"one sentence: {message}"


# -- how outputs count as right -------------------------------------------------------------------
def test_accuracy_at_one_half_or_within_a_tolerance_of_the_target() -> None:
    targets = torch.tensor([[1.0], [0.0], [1.0], [0.0]])
    probabilities = torch.tensor([[0.95], [0.05], [0.6], [0.45]])  # all right at 0.5; two within 0.1
    logits = torch.logit(probabilities)
    sse = make_loss("sse", BINARY, False)
    assert make_readout(sse, BINARY, False, None).count_correct(logits, targets) == (4, 4)
    correct, count = make_readout(sse, BINARY, False, 0.1).count_correct(logits, targets)
    assert (int(correct), count) == (2, 4)
    linear = make_loss("mse", BINARY, False, output={"unit": "linear"})  # the output itself is compared with 0.5
    assert int(make_readout(linear, BINARY, False, None).count_correct(probabilities, targets)[0]) == 4
    # regression: right within the tolerance; off without one
    assert not make_readout(nn.MSELoss(), CURVE, False, None).accuracy
    within = make_readout(nn.MSELoss(), CURVE, False, 0.1)
    assert int(within.count_correct(torch.tensor([[0.05], [0.5]]), torch.zeros(2, 1))[0]) == 1


def test_pixel_accuracy_reads_the_class_dimension_of_an_image() -> None:
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 2, 0, 0] = logits[0, 1, 0, 1] = logits[0, 0, 1] = 1.0  # predicted [[2, 1], [0, 0]]
    labels = torch.tensor([[[2, 0], [0, 1]]])
    readout = make_readout(nn.CrossEntropyLoss(), PIXELS, False, None)
    assert (int(readout.count_correct(logits, labels)[0]), readout.count_correct(logits, labels)[1]) == (2, 4)


def test_segmentation_scores_are_mean_iou_and_dice_over_the_epochs_pixels() -> None:
    scores = SegmentationScores(PIXELS)
    logits = torch.zeros(1, 3, 2, 2)
    logits[0, 2, 0, 0] = logits[0, 1, 0, 1] = logits[0, 0, 1] = 1.0  # predicted [[2, 1], [0, 0]]
    labels = torch.tensor([[[2, 0], [0, 1]]])
    scores.update(logits, labels)
    # class 0: TP 1, FP 1, FN 1; class 1: TP 0, FP 1, FN 1; class 2: TP 1
    result = scores.compute()
    assert result["iou"].item() == pytest.approx((1 / 3 + 0 + 1) / 3)
    assert result["dice"].item() == pytest.approx((2 / 4 + 0 + 1) / 3)


# -- bad input: one sentence naming the loss, the dataset and what would work -------------------------
class Sized(nn.Module):  # a model whose output layer is sized from the data
    def __init__(self, input_shape, num_outputs) -> None:
        super().__init__()


class PerPixel(nn.Module):  # a class map per pixel
    per_pixel = True

    def __init__(self, input_shape, num_outputs) -> None:
        super().__init__()


class Rebuilds(nn.Module):
    reconstructs = True

    def __init__(self, input_shape) -> None:
        super().__init__()


@pytest.mark.parametrize(
    ("loss", "spec", "model", "options", "words"),
    [
        ("dice", IRIS, Sized, {}, "loss=dice scores the overlap of pixel classes, but dataset iris is multiclass"),
        ("wasserstein_dice", CURVE, Sized, {}, "but dataset curve is regression with one target per example"),
        ("mdn", IRIS, Sized, {}, "loss=mdn models a continuous target as a mixture of Gaussians, but dataset iris"),
        ("gaussian_nll", BINARY, Sized, {}, "use loss=auto there, or a regression dataset such as dataset="),
        ("gaussian_nll", CURVE, Rebuilds, {}, "model m rebuilds its input and has no such outputs"),
        ("wasserstein_dice", MASKS, PerPixel, {}, "has two (a binary mask); use loss=dice"),
        ("wasserstein_dice", PIXELS, PerPixel, {}, "has none of its own; set output.class_distances to a 3 x 3 matrix"),
        (
            "cross_entropy",
            PIXELS,
            Sized,
            {},
            "wants a class for every pixel of its 1x2x2 images, but model m gives one",
        ),
        ("sse", CURVE, Sized, {"unit": "sigmoid"}, "output.unit=sigmoid squashes the output"),
        ("cross_entropy", IRIS, PerPixel, {}, "model m gives a class for every pixel, but dataset iris has one target"),
    ],
)
def test_an_output_that_cannot_fit_the_data_is_refused_in_one_sentence(loss, spec, model, options, words) -> None:
    with pytest.raises(ConfigError) as error:
        check_output_fit(loss, spec, "m", model, bool(getattr(model, "reconstructs", False)), options)
    message = str(error.value)
    assert words in message, message
    assert message.endswith(".") and not re.search(r"[.!?]\s+[A-Z]", message), f"one sentence: {message}"


@pytest.mark.parametrize(
    "overrides",
    [
        ("dataset=inverse_sine", "loss=mdn", "output.components=2", "model.hidden=[4]"),
        ("dataset=heteroscedastic", "loss=gaussian_nll", "model.hidden=[4]"),
        ("dataset=mirror_symmetry", "loss=sse", "model.hidden=[2]", "model.activation=sigmoid"),
        (
            "dataset=shapes",
            "dataset.size=8",
            "dataset.num_samples=20",
            "model=encoder_decoder",
            "model.channels=[2]",
            "loss=wasserstein_dice",
        ),
        (
            "dataset=shapes",
            "dataset.size=8",
            "dataset.num_samples=20",
            "model=encoder_decoder",
            "model.channels=[2]",
            "loss=dice",
        ),
    ],
    ids=lambda o: o[1].split("=")[1] if "loss" in o[1] else o[-1].split("=")[1],
)
def test_each_output_units_gradients_match_finite_differences(overrides) -> None:
    """`python -m dlbench.gradcheck <overrides>`: backpropagation through each new loss, in float64."""
    from dlbench.gradcheck import gradcheck_run

    checks = gradcheck_run(list(overrides), batch_size=3)
    assert checks and all(check.passed for check in checks), [c for c in checks if not c.passed]
