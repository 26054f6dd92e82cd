"""MobileFaceNet (Chen et al. 2018): inverted residual bottlenecks with a global depthwise
convolution (GDC) head instead of global average pooling. 112×112 → 7×7×512 → embedding."""
from __future__ import annotations

from torch import Tensor, nn

from facerec.backbones.registry import register_backbone


class ConvBlock(nn.Sequential):
    """conv → BN → (PReLU unless ``linear``)."""

    def __init__(self, cin: int, cout: int, k: int = 1, s: int = 1, p: int = 0, groups: int = 1,
                 linear: bool = False) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, p, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if not linear:
            layers.append(nn.PReLU(cout))
        super().__init__(*layers)


class Bottleneck(nn.Module):
    """1×1 expand → 3×3 depthwise (stride s) → 1×1 linear project; residual when shapes match."""

    def __init__(self, cin: int, cout: int, hidden: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.residual = residual
        self.body = nn.Sequential(
            ConvBlock(cin, hidden, 1),
            ConvBlock(hidden, hidden, 3, stride, 1, groups=hidden),
            ConvBlock(hidden, cout, 1, linear=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileFaceNet(nn.Module):
    """The insightface variant of MobileFaceNet (~1.0 M parameters, ~0.45 G multiply-adds)."""

    def __init__(self, embedding_size: int = 512, input_size: tuple[int, int] = (112, 112)) -> None:
        super().__init__()
        if input_size[0] % 16 or input_size[1] % 16:
            raise ValueError("MobileFaceNet input height and width must be multiples of 16")
        self.embedding_size = embedding_size
        self.input_size = tuple(input_size)

        def stage(cin: int, cout: int, hidden: int, n: int) -> list[nn.Module]:
            return [Bottleneck(cin, cout, hidden, 1, residual=True) for _ in range(n)]

        fh, fw = input_size[0] // 16, input_size[1] // 16
        self.body = nn.Sequential(
            ConvBlock(3, 64, 3, 2, 1),                       # 56×56
            ConvBlock(64, 64, 3, 1, 1, groups=64),
            Bottleneck(64, 64, 128, 2, residual=False),      # 28×28
            *stage(64, 64, 128, 4),
            Bottleneck(64, 128, 256, 2, residual=False),     # 14×14
            *stage(128, 128, 256, 6),
            Bottleneck(128, 128, 512, 2, residual=False),    # 7×7
            *stage(128, 128, 256, 2),
            ConvBlock(128, 512, 1),
            ConvBlock(512, 512, (fh, fw), 1, 0, groups=512, linear=True),  # GDC: 7×7 → 1×1
        )
        self.fc = nn.Linear(512, embedding_size, bias=False)
        self.features = nn.BatchNorm1d(embedding_size)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        # x: (N, 3, 112, 112) → (N, 512, 1, 1) → (N, embedding_size)
        return self.features(self.fc(self.body(x).flatten(1)))


@register_backbone("mobilefacenet")
def mobilefacenet(**kw) -> MobileFaceNet:
    return MobileFaceNet(**kw)
