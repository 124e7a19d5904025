"""Every config mistake gets one sentence, exit status 2, no traceback, before torch is imported.

The table runs through `python train.py` exactly as a user types it, all in one interpreter
(tests/refusal_driver.py): torch must still not be imported after each refusal, which is what
keeps a refusal under a second or two (the time itself is measured in benchmarks/run.py, not
asserted here: this machine is shared and noisy).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dlbench.config.early import has_no_gpu

ROOT = Path(__file__).resolve().parents[1]

# (the arguments after `python train.py`, words the one sentence must contain)
BAD_INPUTS: list[tuple[str, str]] = [
    ("trainer.max_epochs=abc", "trainer.max_epochs=abc must be a whole number >= 1"),
    ("trainer.max_epochs=1.5", "trainer.max_epochs=1.5 must be a whole number >= 1"),
    ("trainer.max_epochs=0", "trainer.max_epochs=0 must be a whole number >= 1"),
    ("trainer.max_epochs=-3", "trainer.max_epochs=-3 must be"),
    ("trainer.max_epochs=true", "trainer.max_epochs=true must be a whole number"),
    ("trainer.min_epochs=10 trainer.max_epochs=5", "trainer.min_epochs=10 must not exceed trainer.max_epochs=5"),
    ("optimizer.lr=abc", "optimizer.lr=abc must be a number > 0; try 0.1 for SGD or 0.001 for Adam"),
    ("optimizer.lr=", "optimizer.lr='' must be a number > 0"),
    ("optimizer.lr=0", "optimizer.lr=0 must be a number > 0"),
    ("optimizer.lr=-0.5", "optimizer.lr=-0.5 must be a number > 0"),
    ("optimizer.lr=inf", "optimizer.lr=inf must be a number > 0"),
    ("optimizer.lr=nan", "optimizer.lr=nan must be a number > 0"),
    ("optimizer.weight_decay=-1", "optimizer.weight_decay=-1 must be a number >= 0"),
    ("optimizer.reference_batch=0", "optimizer.reference_batch=0 must be a whole number >= 1"),
    ("optimizer=momentum optimizer.momentum=1.0", "optimizer.momentum=1.0 must be a number in [0, 1)"),
    ("optimizer=adam optimizer.betas=[0.9,1.2]", "optimizer.betas=[0.9, 1.2] must be two numbers in [0, 1)"),
    ("optimizer=adam optimizer.eps=0", "optimizer.eps=0 must be a number > 0"),
    ("seed=abc", "seed=abc must be a whole number"),
    ("seed=-1", "seed=-1 must be a whole number in [0, 2**32)"),
    ("seed=1.5", "seed=1.5 must be a whole number"),
    ("train=maybe", "train=maybe must be true or false"),
    ("test=maybe", "test=maybe must be true or false"),
    ("train=false", "train=false evaluates a checkpoint, but ckpt_path is not set"),
    ("ckpt_path=", "ckpt_path='' must be the path of a .ckpt file"),
    # what the file system alone says of a checkpoint path: before torch, as every refusal here
    ("ckpt_path=/no/such/last.ckpt", "ckpt_path=/no/such/last.ckpt does not exist; give the path of a .ckpt file"),
    (f"ckpt_path={ROOT / 'configs'}", f"ckpt_path={ROOT / 'configs'} is a directory, not a checkpoint file"),
    ("ckpt_path=/dev/null", "ckpt_path=/dev/null is an empty file"),
    (f"train=false ckpt_path={ROOT / 'README.md'}", "is not a readable checkpoint: not a zip archive written by torch"),
    ("monitor_mode=maximum", "monitor_mode=maximum must be 'min' or 'max'"),
    ("compile=5", "compile=5 must be true/false or a mapping of torch.compile options"),
    ("loss=mae", "loss=mae must be one of auto"),
    ("dataset=inverse_sine loss=mdn output.components=0", "output.components=0 must be a whole number >= 1"),
    ("dataset=heteroscedastic loss=gaussian_nll output.variance=-1", "output.variance=-1 must be 'learned' or a"),
    ("output.unit=tanh", "output.unit=tanh must be one of auto, sigmoid, linear"),
    ("criterion=within task.tolerance=0", "task.tolerance=0 must be a number > 0, or null"),
    ("criterion=all_correct callbacks.criterion.mode=most", "callbacks.criterion.mode=most must be 'min' or 'max'"),
    ("initializer=he_normal initializer.bias=scheme", "initializer.bias=scheme draws the biases like the weights"),
    ("model.hidden=abc", "model.hidden=abc must be a list of widths >= 1"),
    ("model.hidden=[8,0]", "model.hidden=[8, 0] must be a list of widths >= 1"),
    ("model.hidden=[8,-1]", "model.hidden=[8, -1] must be a list of widths >= 1"),
    ("model.dropout=1.5", "model.dropout=1.5 must be a probability in [0, 1)"),
    ("model.dropout=-0.1", "model.dropout=-0.1 must be a probability in [0, 1)"),
    ("model.activation=relux", "model.activation=relux must be one of sigmoid, tanh, relu"),
    ("model=rnn model.dropout=0.5", "model.dropout=0.5 acts only between stacked layers"),
    ("model=lstm +model.nonlinearity=relu", "model.nonlinearity=relu applies only to model=rnn"),
    ("model=autoencoder model.code_size=0", "model.code_size=0 must be a whole number >= 1"),
    ("model=alexnet model.variant=tiny", "model.variant=tiny must be imagenet or cifar"),
    ("model=conv_autoencoder model.activation=maxout", "model.activation=maxout is not available in conv_autoencoder"),
    ("scheduler=step scheduler.gamma=-1", "scheduler.gamma=-1 must be a factor in (0, 1]"),
    ("scheduler=step scheduler.step_size=0", "scheduler.step_size=0 must be a whole number of epochs >= 1"),
    ("scheduler=cosine scheduler.T_max=0", "scheduler.T_max=0 must be a whole number of epochs >= 1"),
    ("scheduler=plateau scheduler.factor=1.5", "scheduler.factor=1.5 must be a factor in (0, 1)"),
    ("scheduler=warmup scheduler.start_factor=0", "scheduler.start_factor=0 must be a factor in (0, 1]"),
    (
        "scheduler=warmup scheduler.after=cosine scheduler.total_epochs=3",
        "scheduler.total_epochs=3 must exceed warmup_epochs=5",
    ),
    ("dataset.batch_size=0", "dataset.batch_size=0 must be a whole number >= 1, or 'full'"),
    ("dataset.batch_size=fulll", "dataset.batch_size=fulll must be a whole number >= 1, or 'full'"),
    ("dataset.batch_size=-4", "dataset.batch_size=-4 must be a whole number >= 1, or 'full'"),
    ("dataset.val_fraction=1.5", "dataset.val_fraction=1.5 must be a fraction in (0, 1) or a whole number"),
    ("dataset.val_fraction=0", "dataset.val_fraction=0 must be a fraction in (0, 1)"),
    ("dataset.test_fraction=-0.2", "dataset.test_fraction=-0.2 must be a fraction in (0, 1)"),
    ("dataset=digits dataset.size=4", "dataset.size=4 must be a whole number of pixels >= 8"),
    ("dataset=digits dataset.augment.translate=1.5", "dataset.augment.translate=1.5 must be a fraction of the image"),
    ("dataset=parity dataset.length=0", "dataset.length=0 must be a whole number of steps >= 1"),
    ("dataset=moons dataset.noise=-1", "dataset.noise=-1 must be a standard deviation >= 0"),
    ("dataset=spiral dataset.num_classes=1", "dataset.num_classes=1 must be a whole number >= 2"),
    ("dataset=circles dataset.factor=1.5", "dataset.factor=1.5 must be a ratio in (0, 1)"),
    ("regularizer=[l2] penalty.l2=-0.1", "penalty.l2=-0.1 must be a weight >= 0"),
    ("+penalty.l3=0.1", "penalty.l3=0.1 must be a weight >= 0 of one of the loss terms l1, l2, activity_l1"),
    ("regularizer=[early_stopping] callbacks.early_stopping.patience=0", "patience=0 must be a whole number"),
    ("regularizer=[max_norm] callbacks.max_norm.max_norm=0", "callbacks.max_norm.max_norm=0 must be a number > 0"),
    ("regularizer=[weight_noise] callbacks.weight_noise.std=-1", "callbacks.weight_noise.std=-1 must be"),
    ("regularizer=[input_noise] task.input_noise=-0.1", "task.input_noise=-0.1 must be a standard deviation >= 0"),
    ("regularizer=[label_smoothing] task.label_smoothing=1.5", "task.label_smoothing=1.5 must be a fraction"),
    ("initializer=normal initializer.std=-1", "initializer.std=-1 must be a standard deviation >= 0"),
    ("initializer=uniform initializer.a=-0.3", "initializer.a=-0.3 must be a number >= 0"),
    ("initializer=lsuv initializer.lsuv_batch=1", "initializer.lsuv_batch=1 must be a whole number >= 2"),
    ("trainer.precision=16", "trainer.precision=16 must be a precision Lightning knows"),
    ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val=-1 must be a number >= 0"),
    ("trainer.gradient_clip_algorithm=max", "trainer.gradient_clip_algorithm=max must be norm or value"),
    ("trainer=ddp_cpu trainer.num_nodes=2", "trainer.num_nodes=2 needs one process per device on 2 machines"),
    ("callbacks.pictures.draw=[curve]", "callbacks.pictures.draw=[curve] must be 'auto' or a list from curves"),
    ("callbacks.layer_stats.saturation=2", "callbacks.layer_stats.saturation=2 must be a number in (0.5, 1)"),
    ("tune=lr tune.min_lr=1 tune.max_lr=0.1", "tune.min_lr=1 must be below tune.max_lr=0.1"),
    ("tune=lr trainer=ddp_cpu", "tune=lr runs its trial steps in one process"),
    ("seeds=0", "seeds=0 must be a whole number >= 1"),
    ("seeds=3", "seeds=3 repeats every setting over 3 seeds, which takes a multirun; add -m"),
    ("-m seeds=0 optimizer.lr=0.1,0.01", "seeds=0"),
    ("logger=[wandb] logger.wandb.mode=sometimes", "logger.wandb.mode=sometimes must be one of auto, online"),
    ("model._target_=my_netz.ResidualMLP", "model._target_=my_netz.ResidualMLP cannot be imported (no module named"),
    ("predict=train", "predict=train must be test, val or null"),
    ("predict=test test=false", "predict=test writes the predictions of the weights the run tests, but test=false"),
    ("dataset._target_=my_data.Module", "dataset._target_=my_data.Module cannot be imported (no module named"),
    # a `_target_` is code (docs/configs.md); what is refused is a mistake, in one sentence before torch
    ("+callbacks.x._target_=os.system", "callbacks.x._target_=os.system names part of Python's standard library"),
    ("+callbacks.x._target_=builtins.eval", "callbacks.x._target_=builtins.eval names part of Python's standard"),
    ("+callbacks.x._target_=no_such.Thing", "callbacks.x._target_=no_such.Thing cannot be imported (no module named"),
    # a module of your own (tests/helpers.py, on the driver's path) is imported before torch, as instantiate would
    ("+callbacks.x._target_=helpers.read_summary", "callbacks.x._target_=helpers.read_summary is a function, not a"),
    *(
        [
            ("trainer=ddp", "trainer=ddp needs a GPU but none was found (no GPU driver on this machine"),
            ("trainer=gpu", "trainer=gpu needs a GPU but none was found (no GPU driver on this machine"),
        ]
        if has_no_gpu()
        else []
    ),
    # mistakes Hydra finds while composing, said in the same way
    ("foo=1", "foo is not a key of the config (`python train.py --cfg job` shows them); +foo=1 would add it"),
    ("optimizer.lrr=0.1", "optimizer.lrr is not a key of the config; did you mean optimizer.lr?"),
    ("trainer.max_epoch=5", "trainer.max_epoch is not a key of the config; did you mean trainer.max_epochs?"),
    ("model=no_such_model", "Could not find 'model/no_such_model': model=no_such_model is not an option"),
    ("experiment=iris", "seeds=5 (set by experiment=iris) repeats every setting over 5 seeds, which takes a multirun"),
    (
        "experiment=no_such",
        "experiment=no_such is not an option; choose one of: activations, augmentation, autoencoder_pca,",
    ),
    ("optimizer.lr=[", "cannot read the override"),
    ("hydra.run.dir=/etc/hostname/run", "hydra.run.dir=/etc/hostname/run cannot be written"),
]


@pytest.fixture(scope="session")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Each bad input through `python train.py`, all in one interpreter (see the module). Once per
    session: a module-scoped fixture ran the table again each time the xdist worker came back to
    this module from another one (twice in a run, 78 s + 35 s)."""
    runs = tmp_path_factory.mktemp("refusals")
    lines = []
    for index, (arguments, _) in enumerate(BAD_INPUTS):
        argv = arguments.split()
        if not any(item.startswith("hydra.run.dir=") for item in argv):
            argv.append(f"hydra.run.dir={runs / str(index)}")
        lines.append(json.dumps(argv))
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "refusal_driver.py")],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == len(BAD_INPUTS), result.stderr[-3000:]
    return {arguments: outcome for (arguments, _), outcome in zip(BAD_INPUTS, outcomes, strict=True)}


def test_there_are_at_least_sixty_bad_inputs_in_the_table() -> None:
    assert len(BAD_INPUTS) >= 60


@pytest.mark.xdist_group("refusals")  # one worker runs the table (its interpreter), not every worker
@pytest.mark.parametrize(("arguments", "words"), BAD_INPUTS, ids=[arguments for arguments, _ in BAD_INPUTS])
def test_each_bad_input_gets_one_sentence_and_exit_status_2_before_torch(refusals, arguments: str, words: str) -> None:
    outcome = refusals[arguments]
    lines = [line for line in outcome["stderr"].splitlines() if line.strip()]
    assert outcome["exit"] == 2, outcome
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome["stderr"]
    assert words in lines[0], lines[0]
    assert "Traceback" not in outcome["stderr"] + outcome["stdout"]
    assert not outcome["torch_imported"], f"{arguments}: torch was imported before the refusal"


@pytest.mark.xdist_group("refusals")
def test_a_refused_run_leaves_its_error_in_its_train_log(refusals, tmp_path_factory) -> None:
    """Hydra makes the run directory before any check can run; what it holds then says why."""
    outcome = refusals["optimizer.lr=abc"]
    run_dir = Path(next(item for item in outcome["argv"] if item.startswith("hydra.run.dir=")).split("=", 1)[1])
    assert "error: optimizer.lr=abc must be a number > 0" in (run_dir / "train.log").read_text()
    assert not (run_dir / "checkpoints").exists() and not (run_dir / "summary.json").exists()
