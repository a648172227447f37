"""multi_mnist: two overlapping MNIST digits per image (Sener & Koltun 2018)."""

# Imported by its installed name so that the builder registers once, however this folder is reached.
from mtl_zoo.dataset_builders.multi_mnist.multi_mnist_dataset_builder import (
    DIGIT_NAMES, MNIST_FILES, MNIST_URL, Builder, MultiMnistConfig)

__all__ = ["Builder", "DIGIT_NAMES", "MNIST_FILES", "MNIST_URL", "MultiMnistConfig"]
