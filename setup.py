"""Package definition of qarep_det (an MMDetection 3.x plugin).

mmcv 2.1.0 with compiled ops is a requirement but is not listed: no wheel exists for torch 2.14,
so `make setup` (tools/install/build_mmcv.sh) builds it from the sdist.
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name: str) -> list:
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith('#')]


VERSION = re.search(r"__version__ = '([^']+)'", (HERE / 'qarep_det' / 'version.py').read_text()).group(1)

setup(
    name='qarep_det',
    version=VERSION,
    description='Quantization-friendly YOLOv6-style detectors (QARepVGG) for MMDetection 3.x',
    long_description=(HERE / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    python_requires='>=3.11,<3.12',
    packages=find_packages(include=['qarep_det', 'qarep_det.*']),
    install_requires=read_requirements('runtime.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    license='Apache-2.0',
)
