from .fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist, read_idx

__all__ = ["FASHION_MNIST_CLASSES", "load_fashion_mnist", "read_idx"]
