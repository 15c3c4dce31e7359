# Runtime of every segmentation config: MMSegmentation 1.2.2's default runtime
# (configs/_base_/default_runtime.py: default_scope='mmseg', SegLocalVisualizer, iteration-based
# logging) plus the plugin import and SyncBN for multi-GPU runs, as configs/_base_/default_runtime.py
# does for detection. The hooks come with each schedule, as in mmseg.
_base_ = 'mmseg::_base_/default_runtime.py'

# Importing qarep_det registers its backbones, necks and blocks (under the mmseg scope too), the
# CamVid dataset, the CheckSegLabels transform and the hooks.
custom_imports = dict(imports=['qarep_det'], allow_failed_imports=False)

# Distributed runs convert every BatchNorm to torch.nn.SyncBatchNorm (mmseg's GPU recipes train
# with SyncBN); mmengine keeps plain BN when not distributed. The CPU (CamVid) configs set None.
sync_bn = 'torch'
