"""A ResNet in the style of He et al. (2016)'s CIFAR nets: 3x3 convolutions, BatchNorm, identity
shortcuts (1x1 projections where the shape changes), global average pooling."""

import torch
from torch import nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, widths=(16, 32, 64), blocks_per_stage=3, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        layers, c_in = [], widths[0]
        for i, width in enumerate(widths):
            for b in range(blocks_per_stage):
                layers.append(Block(c_in, width, 2 if (i > 0 and b == 0) else 1))
                c_in = width
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, classes)

    def forward(self, x):
        out = F.relu(self.bn(self.stem(x)))
        out = self.layers(out)
        return self.head(out.mean(dim=(2, 3)))


def resnet20():
    """About 0.27 M parameters: three stages of 16/32/64 channels, three blocks each."""
    return ResNet((16, 32, 64), 3)


def resnet8():
    """A narrow one for the tests: 8/16 channels, one block a stage."""
    return ResNet((8, 16), 1)


def mlp():
    """A plain ReLU MLP, as many users have one (nn.Sequential)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(),
                         nn.Linear(32, 10))


def broken():
    raise RuntimeError("this factory is broken on purpose")
