"""Configs: read a config file, read a *stored* config as data (never as code), apply ``--cfg-options``.

A config file the user names (``tools/train.py CONFIG``, ``--config``) is Python and runs as
mmengine runs it: that is what a config file is. A config that arrives inside a file from
elsewhere (a checkpoint's ``meta.cfg``, a deployed model's metadata, the ``config.py`` a PTQ run
writes) is *data*: :func:`config_from_text` reads mmengine's ``pretty_text`` dump with an AST walker
that accepts only literals, ``dict(...)`` calls and ``name = value`` assignments, so nothing in it
can run.

Provenance: mmengine 0.10.7 ``Config.pretty_text`` (the format read here) and ``DictAction``
(the value syntax of ``--cfg-options``).
"""
import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from mmengine.config import Config, DictAction

from .errors import BadInput

_MAX_CONFIG_CHARS = 4_000_000


def load_config(path: str, cfg_options: Optional[Sequence[str]] = None) -> Config:
    """The config file at ``path`` (run as mmengine runs configs) with ``cfg_options`` applied.

    Raises:
        BadInput: The file is missing or does not load, or an option is malformed.
    """
    if not Path(path).is_file():
        raise BadInput(f'no such config file: {path}')
    try:
        cfg = Config.fromfile(path)
    except Exception as err:  # noqa: BLE001  (a broken config is bad input: one line, no traceback)
        raise BadInput(f'cannot load config {path}: {type(err).__name__}: {err}') from None
    return apply_cfg_options(cfg, cfg_options)


class _LiteralReader:
    """Evaluates the value nodes of a ``pretty_text`` dump: literals, containers, ``dict(k=v)``, ``-x``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def refuse(self, node: ast.AST, what: str) -> BadInput:
        snippet = ' '.join((ast.get_source_segment(self.source, node) or type(node).__name__).split())[:60]
        return BadInput(f'the stored config is not plain data ({what} on line {getattr(node, "lineno", "?")}: '
                        f'{snippet}); nothing in it was run. Pass the config file with --config')

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and not isinstance(node.value, type(Ellipsis)):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                raise self.refuse(node, 'an unpacking')
            items = [self.value(e) for e in node.elts]
            return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise self.refuse(node, 'an unpacking')
            return {self.value(k): self.value(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'dict':
            if node.args or any(k.arg is None for k in node.keywords):
                raise self.refuse(node, 'a dict() call that is not dict(key=value, ...)')
            return {k.arg: self.value(k.value) for k in node.keywords}
        if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
                and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float, complex)):
            return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
        raise self.refuse(node, 'an expression')


def config_from_text(text: str, what: str = 'stored config') -> Config:
    """A :class:`Config` from a ``pretty_text`` dump, read as data: nothing in ``text`` is executed.

    Args:
        text: ``name = value`` lines whose values are literals, lists, tuples, dict literals and
            ``dict(key=value)`` calls (what mmengine's ``Config.pretty_text`` writes).
        what: How messages name the text (e.g. ``'the config stored in ckpt.pth'``).

    Raises:
        BadInput: ``text`` is not such a dump (it then names the first offending line).
    """
    if not isinstance(text, str):
        raise BadInput(f'the {what} is a {type(text).__name__}, not config text')
    if len(text) > _MAX_CONFIG_CHARS:
        raise BadInput(f'the {what} is {len(text)} characters long: not a config')
    try:
        tree = ast.parse(text, mode='exec')
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        raise BadInput(f'the {what} is not valid config text ({type(err).__name__}: {err})') from None
    reader = _LiteralReader(text)
    values: Dict[str, Any] = {}
    for stmt in tree.body:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            raise reader.refuse(stmt, 'a statement that is not name = value')
        try:
            values[stmt.targets[0].id] = reader.value(stmt.value)
        except TypeError as err:  # an unhashable dict key or set item
            raise BadInput(f'the {what} is not valid config data ({err})') from None
    try:
        return Config(values)
    except Exception as err:  # noqa: BLE001  (mmengine refuses e.g. reserved keys)
        raise BadInput(f'the {what} is not a valid config ({type(err).__name__}: {err})') from None


def parse_cfg_options(options: Optional[Sequence[str]]) -> Dict[str, Any]:
    """``['a.b=1', 'c=[1,2]']`` -> ``{'a.b': 1, 'c': [1, 2]}``, values parsed as mmengine's ``DictAction`` does.

    Raises:
        BadInput: An item is not ``KEY=VALUE`` or its key has an empty part (``=3``, ``a..b=1``).
    """
    parsed = {}
    for item in options or ():
        key, sep, value = item.partition('=')
        if not sep:
            raise BadInput(f'--cfg-options takes KEY=VALUE items, got {item!r}')
        if not key or any(not part for part in key.split('.')):
            raise BadInput(f'--cfg-options: {item!r} has an empty key or key part')
        try:
            parsed[key] = DictAction._parse_iterable(value)
        except Exception:  # noqa: BLE001  (unbalanced brackets and the like)
            raise BadInput(f'--cfg-options: cannot parse the value of {item!r}') from None
    return parsed


def apply_cfg_options(cfg: Config, options: Optional[Sequence[str]]) -> Config:
    """``cfg`` with ``--cfg-options`` merged in (in place); :class:`BadInput` on a malformed item or key."""
    parsed = parse_cfg_options(options)
    if parsed:
        try:
            cfg.merge_from_dict(parsed)
        except Exception as err:  # noqa: BLE001  (e.g. indexing into something that is not a list)
            raise BadInput(f'--cfg-options cannot be applied: {type(err).__name__}: {err}') from None
    return cfg


def dataset_cfgs(dataset: Any) -> List[Mapping]:
    """The leaf dataset configs under wrappers (``dataset=``, ``datasets=[...]``)."""
    if not isinstance(dataset, Mapping):
        return []
    if isinstance(dataset.get('dataset'), Mapping):
        return dataset_cfgs(dataset['dataset'])
    if isinstance(dataset.get('datasets'), (list, tuple)):
        return [leaf for d in dataset['datasets'] for leaf in dataset_cfgs(d)]
    return [dataset]


def check_data_files(cfg: Config, loaders: Sequence[str], hint: str = 'see docs/configs.md') -> None:
    """Refuse, in one line, a run whose annotation files or image folders are missing.

    Checks ``ann_file`` and the image folder (``data_prefix``) of each named dataloader's datasets,
    joined with their ``data_root`` as mmengine's ``BaseDataset`` joins them, and the ``ann_file``
    of the matching evaluator (``val_evaluator`` for ``val_dataloader``), before anything is built
    or written, so that a missing dataset is not a traceback from deep inside the runner.

    Args:
        cfg: The config.
        loaders: Dataloader keys, e.g. ``('train_dataloader', 'val_dataloader')``; absent or
            ``None`` ones are skipped.
        hint: Where the docs say to put the data.

    Raises:
        BadInput: A file or folder is missing (its path, the loader and ``hint`` in the message).
    """
    for name in loaders:
        loader = cfg.get(name)
        if not isinstance(loader, Mapping):
            continue
        evaluator = cfg.get(name.replace('_dataloader', '_evaluator'))
        for metric in evaluator if isinstance(evaluator, (list, tuple)) else [evaluator]:
            ann_file = metric.get('ann_file') if isinstance(metric, Mapping) else None
            if isinstance(ann_file, str) and ann_file and not Path(ann_file).exists():
                raise BadInput(f'{name.replace("_dataloader", "_evaluator")}: annotation file {ann_file} not found '
                               f'({hint})')
        for dataset in dataset_cfgs(loader.get('dataset')):
            root = dataset.get('data_root') or ''
            ann_file = dataset.get('ann_file')
            prefix = dataset.get('data_prefix') or {}
            folders = [v for v in prefix.values() if isinstance(v, str) and v] if isinstance(prefix, Mapping) else []
            wanted = ([('annotation file', ann_file)] if isinstance(ann_file, str) and ann_file else []) + \
                     [('image folder', f) for f in folders]
            for what, rel in wanted:
                path = Path(root) / rel if not Path(rel).is_absolute() else Path(rel)
                if not path.exists():
                    raise BadInput(f'{name}: {what} {path} not found: the dataset is not where the config says '
                                   f'({hint}, or set {name}.dataset.data_root with --cfg-options)')


def check_schedule(cfg: Config) -> None:
    """Refuse a ``param_scheduler`` stage that would start at or after the end of its run.

    mmengine's Runner gives a stage without ``end`` the train loop's ``max_epochs`` (``max_iters``
    for ``by_epoch=False``), so shortening a run with ``train_cfg.max_epochs`` can leave a stage
    (e.g. a cosine after the warm-up) with ``begin >= end``, which mmengine only reports deep in
    the Runner with a traceback.

    Raises:
        BadInput: A stage begins at or after its end (the stage, both values and the fix).
    """
    schedulers = cfg.get('param_scheduler') or []
    train_cfg = cfg.get('train_cfg') or {}
    for index, stage in enumerate(schedulers if isinstance(schedulers, (list, tuple)) else [schedulers]):
        if not isinstance(stage, Mapping):
            continue
        unit = 'epoch' if stage.get('by_epoch', True) else 'iteration'
        end = stage.get('end', train_cfg.get(f'max_{unit}s'))
        begin = stage.get('begin', 0)
        if isinstance(end, int) and isinstance(begin, int) and begin >= end:
            raise BadInput(f'param_scheduler[{index}] ({stage.get("type")}) begins at {unit} {begin} but the run '
                           f'ends at {unit} {end}: train longer, or move the stage with --cfg-options '
                           f'param_scheduler.{index}.begin=N (and the stage before it)')
