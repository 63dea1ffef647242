#!/usr/bin/python3
"""PIL reference for the image preprocessing tests: Hugging Face's Python path, without transformers.

Mirrors `transformers.image_utils.load_image` (PIL.Image.open, ImageOps.exif_transpose,
convert("RGB")) and the image processors' resize / center_crop / rescale / normalize
(`transformers.image_transforms`), written with PIL and numpy only.

Reads one JSON object on stdin: {"jobs": [job, ...]} where a job is
  {"input": path, "output": path, "op": "decode" | "preprocess",
   "grey16": "pil" | "scale",            # 16-bit greyscale: PIL's own clipping, or >> 8
   "resize": null | {"height": h, "width": w} | {"shortest_edge": s, "longest_edge": l?},
   "resample": 0 | 1 | 2 | 3 | 4 | 5,
   "crop": null | {"height": h, "width": w},
   "rescale_factor": float | null, "mean": [3] | null, "std": [3] | null}
"decode" writes HWC uint8 RGB to `output`; "preprocess" writes the resized and cropped HWC
uint8 image to `output` + ".u8" and the float32 little-endian CHW pixel values to `output`.
Prints one JSON line: {"results": [{"width", "height", "mode"} or {"error": message}, ...]}.
"""
import json
import math
import sys

import numpy as np
from PIL import Image, ImageOps


def load_image(path, grey16):
    image = Image.open(path)
    mode = image.mode
    image = ImageOps.exif_transpose(image)
    if grey16 == "scale" and image.mode in ("I", "I;16", "I;16B", "I;16L"):
        # PIL's convert('RGB') clips 16-bit values at 255; "scale" keeps the high byte instead.
        image = Image.fromarray((np.asarray(image).astype(np.uint32) >> 8).astype(np.uint8), "L")
    return image.convert("RGB"), mode


def output_size(height, width, resize):
    """transformers.image_transforms.get_resize_output_image_size (default_to_square=False)."""
    if "height" in resize:
        return resize["height"], resize["width"]
    size = resize["shortest_edge"]
    max_size = resize.get("longest_edge")
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


def center_crop(image, crop_height, crop_width):
    """transformers.image_transforms.center_crop on an HWC array (pads with zeros)."""
    orig_height, orig_width = image.shape[:2]
    top = (orig_height - crop_height) // 2
    bottom = top + crop_height
    left = (orig_width - crop_width) // 2
    right = left + crop_width
    if top >= 0 and bottom <= orig_height and left >= 0 and right <= orig_width:
        return image[top:bottom, left:right]
    new_height = max(crop_height, orig_height)
    new_width = max(crop_width, orig_width)
    new_image = np.zeros_like(image, shape=(new_height, new_width) + image.shape[2:])
    top_pad = math.ceil((new_height - orig_height) / 2)
    left_pad = math.ceil((new_width - orig_width) / 2)
    new_image[top_pad : top_pad + orig_height, left_pad : left_pad + orig_width] = image
    top, bottom, left, right = top + top_pad, bottom + top_pad, left + left_pad, right + left_pad
    return new_image[max(0, top) : min(new_height, bottom), max(0, left) : min(new_width, right)]


def preprocess(image, job):
    if job.get("resize"):
        height, width = output_size(image.height, image.width, job["resize"])
        image = image.resize((width, height), resample=job.get("resample", 2), reducing_gap=None)
    array = np.asarray(image)
    if job.get("crop"):
        array = center_crop(array, job["crop"]["height"], job["crop"]["width"])
    pixels = array
    if job.get("rescale_factor") is not None:
        pixels = (pixels.astype(np.float64) * job["rescale_factor"]).astype(np.float32)
    if job.get("mean") is not None:
        pixels = pixels.astype(np.float32)
        mean = np.array(job["mean"], dtype=np.float32)
        std = np.array(job["std"], dtype=np.float32)
        pixels = (pixels - mean) / std
    chw = np.ascontiguousarray(pixels.astype(np.float32).transpose(2, 0, 1))
    return np.ascontiguousarray(array), chw


def main():
    request = json.load(sys.stdin)
    results = []
    for job in request["jobs"]:
        try:
            image, mode = load_image(job["input"], job.get("grey16", "pil"))
            if job["op"] == "decode":
                array = np.ascontiguousarray(np.asarray(image))
                array.tofile(job["output"])
            else:
                array, chw = preprocess(image, job)
                array.tofile(job["output"] + ".u8")
                chw.astype("<f4").tofile(job["output"])
            results.append({"width": int(array.shape[1]), "height": int(array.shape[0]), "mode": mode})
        except Exception as error:  # reported per job, the caller decides
            results.append({"error": f"{type(error).__name__}: {error}"})
    sys.stdout.write(json.dumps({"results": results}) + "\n")


if __name__ == "__main__":
    main()
