"""A user's own package, written as a researcher would, outside Landscape's model zoo: a small
ResNet with BatchNorm on CIFAR-shaped images and a tiny transformer language model, their data,
and plain training loops that save checkpoints. The import tests point `landscape import` at it
with `--path tests --model userpkg.resnet:resnet8`.
"""
