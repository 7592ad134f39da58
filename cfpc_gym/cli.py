"""The ``cfpc-gym`` command line: run experiments from YAML configs, list environments."""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path

from .config import DEFAULT_CONFIG, dump_config, load_config
from .errors import CfpcError, CheckpointError, UsageError
from .io import describe_os_error, make_output_dir
from .threads import one_blas_thread

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, like every other bad input
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cfpc-gym", description="Counterfactual predictive control for Gymnasium envs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="run an experiment (the embedded default when no CONFIG)")
    run.add_argument(
        "config",
        nargs="?",
        help=f"YAML file, or the name of a bundled config (default: {DEFAULT_CONFIG})",
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set trials=20 --set controllers.1.learning_rate=0.05",
    )
    run.add_argument("--out", type=_path, help="run directory (default: runs/NAME-TIMESTAMP)")
    run.add_argument("--force", action="store_true", help="write into an existing run directory")
    run.add_argument("--resume", type=_path, metavar="DIR", help="continue the run in DIR (a killed run)")
    run.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    commands.add_parser("envs", help="list the registered cfpc_gym environments")
    render = commands.add_parser("render", help="write a video of one trial (headless)")
    render.add_argument("source", help="a run directory (its trained weights), or a config to run untrained")
    render.add_argument("--controller", help="which controller (default: the first that learns)")
    render.add_argument("--out", type=_path, default=Path("trial.mp4"), help="video file: .mp4 or .gif")
    render.add_argument(
        "--seed", type=_whole_number(0), help="env seed of the rendered trial (default: the config's)"
    )
    render.add_argument("--force", action="store_true", help="overwrite an existing video file")
    for name, text in (
        ("bench", "tasks x methods x seeds: CFPC rules, ILC, PPO and SAC side by side"),
        ("sweep", "a bench config's grid of hyperparameters x seeds, on Ray (or a local pool)"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument(
            "config",
            nargs=None if name == "sweep" else "?",
            help="bench YAML or the name of a bundled one" + ("" if name == "sweep" else " (default: bench)"),
        )
        budget = command.add_mutually_exclusive_group()
        budget.add_argument("--quick", dest="profile", action="store_const", const="quick",
                            help="the quick profile (the default): minutes on 2 CPU cores")  # fmt: skip
        budget.add_argument("--full", dest="profile", action="store_const", const="full",
                            help="the full profile: the published numbers")  # fmt: skip
        command.set_defaults(profile="quick")
        command.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                             help="override a bench config key, e.g. --set seeds=5")  # fmt: skip
        command.add_argument("--out", type=_path, help=f"results directory (default: runs/{name}-TIMESTAMP)")
        command.add_argument("--force", action="store_true", help="write into an existing results directory")
        command.add_argument(
            "--workers", type=_whole_number(1), help="processes side by side (default: the CPUs)"
        )
        command.add_argument("--resume", type=_path, metavar="DIR", help="finish the killed run in DIR")
        if name == "sweep":
            command.add_argument("--address", help="Ray cluster address (default: start Ray on this machine)")
    return parser


def _path(text: str) -> Path:
    """An argparse type: a path, not empty (``Path("")`` is the working directory)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path; name a file or directory")
    return Path(text)


def _whole_number(minimum: int):
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value

    return parse


def _out_dir(args, name: str) -> Path:
    """The directory to write into, checked (not made): nothing of the user's is overwritten."""
    out = args.out or Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        return _checked_out_dir(args, out)
    except OSError as exc:  # a name too long, a path the system refuses to look at
        raise UsageError(f"--out: {out}: {describe_os_error(exc)}") from None


def _checked_out_dir(args, out: Path) -> Path:
    _check_parents(out)
    if out.is_symlink():
        raise UsageError(f"--out: {out} is a symbolic link; name a directory of its own")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} is a file, not a directory")
    try:
        used = out.exists() and any(out.iterdir())
    except OSError as exc:
        raise UsageError(f"--out: cannot read {out}: {describe_os_error(exc)}") from None
    if used and not args.force:
        raise UsageError(f"--out: {out} already exists; choose another directory or pass --force")
    return out


@contextmanager
def _claimed(out: Path):
    """Make ``out`` (a writable directory, or one line), and remove it and the parents made for it
    again if what follows fails before writing into it."""
    made = []  # out and the parents it needs, deepest first: removed again on failure
    for folder in (out, *out.parents):
        if os.path.lexists(folder):
            break
        made.append(folder)
    try:
        make_output_dir(out, "--out")
        yield out
    except BaseException:
        for folder in made:  # deepest first; only those still empty
            with suppress(OSError):
                folder.rmdir()
        raise


def _check_run_dir(out: Path, flag: str, folders: tuple[str, ...], files: tuple[str, ...]) -> None:
    """Refuse, before any work, a run directory the run could not finish writing as it should: a
    subfolder it writes into that is a symbolic link (checkpoints would land, and --force would
    delete stale ones, wherever the link points), or a directory where it writes a file."""
    for name in folders:
        if (out / name).is_symlink():
            raise UsageError(f"{flag}: {out / name} is a symbolic link; the run writes there, so remove it")
    for name in files:
        if (out / name).is_dir() and not (out / name).is_symlink():
            raise UsageError(
                f"{flag}: {out / name} is a directory; the run writes a file there, so remove it"
            )


def _check_parents(path: Path) -> None:
    """Refuse a path under a file (it could never be made)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise UsageError(f"--out: {parent} is a file, so {path} cannot be made")
            return


def _resumed(args):
    """The config and directory of the run to continue."""
    if args.config or args.overrides or args.out:
        raise UsageError("--resume DIR takes no CONFIG, --set or --out: the run's own config.yaml is used")
    config_path = args.resume / "config.yaml"
    if not config_path.is_file():
        raise UsageError(f"--resume: {args.resume} holds no config.yaml; is it a cfpc-gym run directory?")
    return load_config(config_path), args.resume


def _summary_writer():
    """TensorBoard's ``SummaryWriter`` class, or one line: checked before anything is written."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UsageError("tensorboard: true needs the tensorboard package: pip install tensorboard") from None
    return SummaryWriter


def _run(args) -> int:
    config, out = _resumed(args) if args.resume else (load_config(args.config, args.overrides), None)
    if args.print_config:
        print(dump_config(config), end="")
        return 0
    from .experiment.checkpoint import CHECKPOINTS  # torch loads only when running
    from .experiment.outputs import OUTPUT_FILES, summary_table, write_outputs
    from .experiment.runner import prepare_experiment
    from .io import write_atomic

    fresh = out is None
    out = _out_dir(args, config.name) if fresh else out
    _check_run_dir(out, "--out" if fresh else "--resume", (CHECKPOINTS, "tensorboard"), OUTPUT_FILES)
    summary_writer = _summary_writer() if config.tensorboard else None
    with _claimed(out) if fresh else nullcontext():
        experiment = prepare_experiment(config)  # every config error surfaces before anything is written
    if fresh:
        for stale in (out / CHECKPOINTS).glob("*.pt") if args.force else ():
            stale.unlink()  # --force starts afresh
        write_atomic(out / "config.yaml", dump_config(config))  # first: --resume reads it

    live = sys.stderr.isatty()

    def say(message: str) -> None:
        print(("\n" if live else "") + message, file=sys.stderr, flush=True)

    scalars = summary_writer(log_dir=str(out / "tensorboard")) if summary_writer else None

    def progress(result) -> None:  # one line rewritten in place, on a terminal only
        if scalars is not None:
            trial = result.trials_done - 1
            scalars.add_scalar(f"{result.name}/rmse", result.trial_rmse[-1], trial)
            scalars.add_scalar(f"{result.name}/max_error", result.trial_max_error[-1], trial)
            if result.trial_lag_s[-1] is not None:
                scalars.add_scalar(f"{result.name}/lag_s", result.trial_lag_s[-1], trial)
        if live:
            line = f"  trial {result.trials_done}/{config.trials}  RMSE {result.trial_rmse[-1]:.4g}"
            print("\r" + line, end="", file=sys.stderr, flush=True)

    try:
        result = experiment.run(say=say, out_dir=out, on_trial=progress)
    except CheckpointError as exc:
        raise UsageError(f"--resume: {exc}" if args.resume else str(exc)) from None
    except KeyboardInterrupt:
        print(f"interrupted; continue with: cfpc-gym run --resume {out}", file=sys.stderr)
        return 130
    if scalars is not None:
        scalars.close()
    written = write_outputs(result, out)
    print(summary_table(result))
    print(f"wrote {', '.join(p.name for p in written)} to {out}")
    return 0


def _bench(args) -> int:
    from .bench.cells import check, default_workers, run_bench
    from .bench.config import dump_bench, load_bench
    from .bench.report import write_outputs
    from .bench.store import BENCH_FILE, CELLS, load_cells, save_cell
    from .io import write_atomic

    if args.resume:
        if args.config or args.overrides or args.out:
            raise UsageError("--resume DIR takes no CONFIG, --set or --out: the run's own bench.yaml is used")
        if not (args.resume / BENCH_FILE).is_file():
            raise UsageError(
                f"--resume: {args.resume} holds no {BENCH_FILE}; is it a cfpc-gym bench directory?"
            )
        bench, out = load_bench(args.resume / BENCH_FILE), args.resume
        try:
            done = load_cells(out, args.profile)
        except CheckpointError as exc:
            raise UsageError(f"--resume: {exc}") from None
    else:
        bench, done = load_bench(args.config, args.overrides), {}
        out = _out_dir(args, bench.name)  # refuse a used directory before hours of work
    if args.command == "bench" and bench.grid:
        raise UsageError("grid: a bench runs no grid; use cfpc-gym sweep for hyperparameter grids")
    if args.command == "sweep":
        from .bench.sweep import INSTALL_HINT, check_sweep, ray_available

        if args.address is not None and not ray_available():
            raise UsageError(f"--address needs Ray: {INSTALL_HINT}")
        check_sweep(bench, args.profile, args.address)  # every problem before anything is written
    else:
        check(bench, args.profile)
    if not args.resume:
        make_output_dir(out, "--out")
        (out / CELLS).unlink(missing_ok=True)  # --force starts afresh
        write_atomic(out / BENCH_FILE, dump_bench(bench))  # first: --resume reads it

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def save(result) -> None:
        save_cell(out, args.profile, result)

    if args.command == "bench":
        results = run_bench(bench, args.profile, args.workers or default_workers(), say, save, done)
    else:
        from .bench.sweep import run_sweep

        results = run_sweep(
            bench, args.profile, address=args.address, workers=args.workers, say=say, save=save, done=done
        )
    written = write_outputs(bench, args.profile, results, out)
    print((out / "results.md").read_text(), end="")
    print(f"wrote {', '.join(p.name for p in written)} to {out}")
    return 0


def _render(args) -> int:
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless: before MuJoCo is first imported
    source = Path(args.source)
    run_dir = source if (source / "config.yaml").is_file() else None
    config = load_config(run_dir / "config.yaml" if run_dir else args.source)
    from .experiment.render import VIDEO_SUFFIXES, pick_controller, render_trial, write_video

    if args.out.suffix not in VIDEO_SUFFIXES:
        raise UsageError(f"--out: {args.out} must end in {' or '.join(VIDEO_SUFFIXES)}")
    if (args.out.exists() or args.out.is_symlink()) and not args.force:  # a dangling link too
        raise UsageError(f"--out: {args.out} already exists; choose another file or pass --force")
    if args.out.is_dir():
        raise UsageError(f"--out: {args.out} is a directory; name a video file")
    if not args.out.parent.is_dir():  # before every frame is rendered
        raise UsageError(f"--out: the directory {args.out.parent} does not exist")
    try:
        index = pick_controller(config, args.controller)
    except CfpcError as exc:
        raise UsageError(f"--{exc}") from None
    seed = config.seed if args.seed is None else args.seed
    frames, dt = render_trial(config, index, run_dir, seed)
    write_video(frames, args.out, fps=1.0 / dt)
    weights = f"weights from {run_dir}" if run_dir else "untrained"
    print(f"wrote {len(frames)} frames of {config.controllers[index].name} ({weights}) to {args.out}")
    return 0


KEY_PARAMETERS = (
    "dt",
    "sensory_delay",
    "motor_delay",
    "trial_duration",
    "cue_to_movement",
    "interstimulus_interval",
    "force_field",
    "natural_freq_hz",
    "damping_ratio",
)


def _envs(_args) -> int:
    import importlib
    import inspect

    import gymnasium as gym

    from .envs import ENV_IDS

    for env_id in ENV_IDS:
        module, _, name = gym.spec(env_id).entry_point.partition(":")
        maker = getattr(importlib.import_module(module), name)
        defaults = {
            key: p.default
            for key, p in inspect.signature(maker).parameters.items()
            if key in KEY_PARAMETERS and p.default is not inspect.Parameter.empty
        }
        doc = inspect.getdoc(maker) or ""
        summary = doc.splitlines()[0].replace("``", "") if doc else ""  # reST markup off
        print(f"{env_id}\n    {summary}")
        if defaults:
            print("    " + ", ".join(f"{k}={v}" for k, v in defaults.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    """The ``cfpc-gym`` command.

    Args:
        argv: The arguments after ``cfpc-gym`` (None: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 done, 2 bad input (one line on stderr), 130 interrupted.
    """
    try:
        args = _parser().parse_args(argv)
        commands = {"run": _run, "envs": _envs, "render": _render, "bench": _bench, "sweep": _bench}
        with one_blas_thread():
            return commands[args.command](args)
    except CfpcError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a path the user gave that the system refuses mid-run (full disk, ...)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {_one_line(where + describe_os_error(exc))}", file=sys.stderr)
        return EXIT_USAGE


def _one_line(message: str) -> str:
    """``message`` with its control characters escaped (a path may hold a newline)."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in message)


if __name__ == "__main__":
    sys.exit(main())
