"""SphereFace-20 (Liu et al., CVPR 2017): 4 stages of stride-2 conv + PReLU with 1, 2, 4, 1
residual units (64, 128, 256, 512 channels), then FC to the embedding. Designed for the
112×96 SphereFace crop; any size divisible by 16 works."""
from __future__ import annotations

from torch import Tensor, nn

from facerec.backbones.registry import register_backbone


class _Unit(nn.Module):
    """x + PReLU(conv3×3(PReLU(conv3×3(x))))."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1), nn.PReLU(c), nn.Conv2d(c, c, 3, 1, 1), nn.PReLU(c))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class SphereFace20(nn.Module):
    """The 20-layer CNN of SphereFace (no batch norm, as in the paper)."""

    def __init__(self, embedding_size: int = 512, input_size: tuple[int, int] = (112, 96)) -> None:
        super().__init__()
        if input_size[0] % 16 or input_size[1] % 16:
            raise ValueError("SphereFace-20 input height and width must be multiples of 16")
        self.embedding_size = embedding_size
        self.input_size = tuple(input_size)
        layers: list[nn.Module] = []
        cin = 3
        for cout, units in zip((64, 128, 256, 512), (1, 2, 4, 1)):
            layers += [nn.Conv2d(cin, cout, 3, 2, 1), nn.PReLU(cout)]
            layers += [_Unit(cout) for _ in range(units)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(512 * (input_size[0] // 16) * (input_size[1] // 16), embedding_size)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        # x: (N, 3, 112, 96) → (N, 512, 7, 6) → (N, embedding_size)
        return self.fc(self.body(x).flatten(1))


@register_backbone("sphereface20")
def sphereface20(**kw) -> SphereFace20:
    return SphereFace20(**kw)
