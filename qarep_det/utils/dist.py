"""Multi-process training on machines without CUDA: what mmengine 0.10.7 needs to run under torchrun.

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` before it initializes the process
group, wraps the model in DDP with ``device_ids=[LOCAL_RANK]`` and converts BN to SyncBN; none of
these work without a GPU. On CPU, :func:`adapt_cpu_distributed` initializes the process group with
gloo itself (mmengine then skips its own initialization), wraps the model in DDP without device ids
and keeps per-process BN (``torch.nn.SyncBatchNorm`` is GPU-only). With CUDA it changes nothing.

Provenance: mmengine 0.10.7 ``mmengine/dist/utils.py`` (``_init_dist_pytorch``) and
``Runner.wrap_model``.
"""
import datetime
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.logging import MMLogger

from .errors import BadInput


def adapt_cpu_distributed(cfg: Config) -> bool:
    """Prepare ``cfg`` (in place) and the process group for a distributed run without CUDA.

    Args:
        cfg: a training or testing config whose ``launcher`` is set.

    Returns:
        True when the run was adapted (distributed launcher, no CUDA), else False.

    Raises:
        BadInput: the launcher is ``slurm`` on a machine without CUDA, or the torchrun environment
            variables are missing.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return False
    if launcher != 'pytorch':
        raise BadInput(f'--launcher {launcher} needs CUDA GPUs; on CPU start the processes with torchrun '
                       'and --launcher pytorch')
    missing = [k for k in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT') if k not in os.environ]
    if missing:
        raise BadInput(f'--launcher pytorch: {", ".join(missing)} not set (start the processes with torchrun)')
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    if not torch_dist.is_initialized():
        kwargs = {}
        if dist_cfg.get('timeout') is not None:
            kwargs['timeout'] = datetime.timedelta(seconds=dist_cfg['timeout'])
        torch_dist.init_process_group(backend='gloo', **kwargs)
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)  # DDP of a CPU module takes no device ids
    cfg.model_wrapper_cfg = wrapper
    logger = MMLogger.get_current_instance()
    if cfg.get('sync_bn') is not None:
        logger.warning(f'no CUDA: sync_bn={cfg.sync_bn!r} is turned off (SyncBatchNorm is GPU-only); '
                       'each process normalizes over its own batch')
        cfg.sync_bn = None
    logger.info(f'no CUDA: distributed run over gloo, rank {torch_dist.get_rank()} of '
                f'{torch_dist.get_world_size()}')
    return True
