"""Any folder of images as training data, laid out as torchvision's ImageFolder reads it: ROOT/<class>/<image>.

The transforms are the PyTorch DCGAN tutorial's for CelebA: Resize(image_size) (the shorter side), then
CenterCrop(image_size), in colour (nc=3); the classes are ignored, a GAN needs none. The fast path decodes and
crops every image once into one uint8 tensor (CelebA's 202,599 faces take 2.5 GB at 64x64); the classic path is
the tutorial's DataLoader over ImageFolder, decoding every image every epoch.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision.datasets as dset
import torchvision.transforms as transforms
import torchvision.transforms.v2.functional as F

from gan_core.errors import DataNotFoundError

LAYOUT = "ROOT/<class>/<image>.png|.jpg (torchvision's ImageFolder layout; one class folder is enough)"


def _crop(image_size: int) -> list[torch.nn.Module]:
    return [transforms.Resize(image_size), transforms.CenterCrop(image_size)]


def _image_folder(root: Path, transform: transforms.Compose) -> dset.ImageFolder:
    if not root.is_dir():
        raise DataNotFoundError(f"image folder {root.absolute()} does not exist; it should be laid out as {LAYOUT}")
    try:
        return dset.ImageFolder(str(root), transform=transform)
    except (FileNotFoundError, RuntimeError) as exc:  # no class folder, or no image in any of them
        raise DataNotFoundError(f"no images in {root.absolute()} ({exc}); lay it out as {LAYOUT}") from exc


def folder_dataset(root: Path, image_size: int) -> dset.ImageFolder:
    """The tutorial's dataset: ImageFolder with Resize, CenterCrop, ToTensor and Normalize to [-1, 1] per channel."""
    normalize = transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    return _image_folder(root, transforms.Compose([*_crop(image_size), transforms.ToTensor(), normalize]))


def folder_uint8(root: Path, image_size: int) -> torch.Tensor:
    """Every image of the folder, resized and center-cropped once, as one uint8 tensor N x 3 x S x S."""
    dataset = _image_folder(root, transforms.Compose(_crop(image_size)))
    images = torch.empty(len(dataset), 3, image_size, image_size, dtype=torch.uint8)
    for i in range(len(dataset)):
        path = dataset.samples[i][0]
        try:
            picture, _ = dataset[i]
        except OSError as exc:  # PIL's error for a truncated or non-image file
            raise DataNotFoundError(f"{path}: not a readable image ({exc})") from exc
        images[i] = F.pil_to_tensor(picture.convert("RGB"))
    return images
