"""IResNet (Deng et al., ArcFace, CVPR 2019), in insightface's ``arcface_torch`` layout.

Improved residual unit BN-Conv-BN-PReLU-Conv-BN; the stride sits on the unit's second conv;
the output block is BN → dropout → flatten → FC → BN ("option E"). 112×112 input → 7×7×512.
"""
from __future__ import annotations

from torch import Tensor, nn

from facerec.backbones.registry import register_backbone


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """BN → conv3×3 → BN → PReLU → conv3×3(stride) → BN, plus the (projected) shortcut."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = _conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + identity


class IResNet(nn.Module):
    """IResNet with ``layers`` units per stage (64, 128, 256, 512 channels, each stride 2)."""

    def __init__(self, layers: list[int], embedding_size: int = 512, dropout: float = 0.0,
                 input_size: tuple[int, int] = (112, 112)) -> None:
        super().__init__()
        if input_size[0] % 16 or input_size[1] % 16:
            raise ValueError("IResNet input height and width must be multiples of 16")
        self.embedding_size = embedding_size
        self.input_size = tuple(input_size)
        self.inplanes = 64
        self.conv1 = _conv3x3(3, 64)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1])
        self.layer3 = self._make_layer(256, layers[2])
        self.layer4 = self._make_layer(512, layers[3])
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)
        fh, fw = input_size[0] // 16, input_size[1] // 16
        self.fc = nn.Linear(512 * fh * fw, embedding_size)
        self.features = nn.BatchNorm1d(embedding_size, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False  # as in insightface: BN without learned scale
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, planes: int, blocks: int) -> nn.Sequential:
        downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride=2, bias=False),
                                   nn.BatchNorm2d(planes, eps=1e-5))
        units = [IBasicBlock(self.inplanes, planes, 2, downsample)]
        self.inplanes = planes
        units += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*units)

    def forward(self, x: Tensor) -> Tensor:
        # x: (N, 3, 112, 112) → (N, 512, 7, 7) → (N, embedding_size)
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(self.bn2(x))
        x = self.fc(x.flatten(1))
        return self.features(x)


_DEPTHS = {"iresnet18": [2, 2, 2, 2], "iresnet34": [3, 4, 6, 3],
           "iresnet50": [3, 4, 14, 3], "iresnet100": [3, 13, 30, 3]}


def _factory(depth: list[int]):
    def make(**kw) -> IResNet:
        return IResNet(depth, **kw)
    return make


for _name, _depth in _DEPTHS.items():
    register_backbone(_name)(_factory(_depth))
