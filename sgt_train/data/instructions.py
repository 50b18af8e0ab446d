"""The instructions of proxy samples: many phrasings per proxy, one drawn per item with a seeded RNG.

SGT draws each segmentation sample's prompt from a fixed list of 279 phrasings of "colour every
instance distinctly" (``SGT:BAGEL/data/consts.py``). These lists are the project's own wording (not
copied), a few dozen per proxy, so the model learns the task rather than one sentence. The choice
is a pure function of ``(seed, source position)``: a resumed run and every data-parallel rank draw
the same phrasing for the same item.
"""

from __future__ import annotations

from sgt_train.data.common import stream_seed

SEGMENTATION: tuple[str, ...] = (
    "Colour every instance in the image differently.",
    "Segment the instances with different colors.",
    "Paint each object in its own colour.",
    "Give every instance a distinct colour.",
    "Draw the instance segmentation of this image.",
    "Colour each object differently and leave the background dark.",
    "Produce an instance mask where each object has a unique colour.",
    "Mark every separate object with a different colour.",
    "Render the instance segmentation map.",
    "Fill each instance with its own flat colour.",
    "Show the segmentation of all instances, one colour per instance.",
    "Separate the objects by painting each one a different colour.",
    "Segment every object in the picture with distinct colours.",
    "Create a colour-coded instance mask of the image.",
    "Assign a different colour to each instance in the scene.",
    "Colour the instances so that no two share a colour.",
    "Generate the instance mask, each object in a unique colour.",
    "Paint the objects in distinct solid colours on a dark background.",
    "Draw every object as a region of its own colour.",
    "Segment all instances and colour them differently.",
    "Outline nothing; fill each object with a unique colour instead.",
    "Turn this image into an instance segmentation with distinct colours.",
    "Label each instance with a different colour.",
    "Make a colour map where every object gets its own colour.",
    "Give each shape in the image a different colour in a segmentation mask.",
    "Show each instance as a differently coloured region.",
    "Produce the per-instance colour segmentation of this picture.",
    "Colour-code every object instance.",
    "Segment the image: one distinct colour per object.",
    "Replace each object with a flat patch of a unique colour.",
    "Highlight every instance in a distinct colour.",
    "Render each object as a solid region, all in different colours.",
    "Split the scene into instances and colour each one differently.",
    "Draw the mask of every object, each with its own colour.",
    "Paint the instance masks in different colours.",
    "Every object gets a unique colour: draw the segmentation.",
)
EDGE: tuple[str, ...] = (
    "Draw the edges of this image.",
    "Detect the edges in the image.",
    "Show the outlines of everything in the picture.",
    "Produce an edge map of the image.",
    "Trace the boundaries of the objects.",
    "Render only the contours of the scene.",
    "Extract the edges and draw them in white on black.",
    "Draw the object boundaries.",
    "Make a line drawing of the image's edges.",
    "Show where the image has edges.",
    "Generate the edge map of this picture.",
    "Outline every object in the image.",
    "Compute the edges of the scene and draw them.",
    "Draw the contours of all shapes.",
    "Highlight the edges in the image.",
    "Turn the image into an edge drawing.",
)
DEPTH: tuple[str, ...] = (
    "Estimate the depth of this image.",
    "Draw the depth map of the scene.",
    "Show how far each part of the image is from the camera.",
    "Produce a depth map, near is bright and far is dark.",
    "Render the depth of the picture.",
    "Generate the depth map of this image.",
    "Predict the depth of every pixel.",
    "Show the scene's depth as a grey-scale image.",
    "Make a depth image of the picture.",
    "Draw what is near brighter than what is far.",
    "Estimate how close each object is and draw it as depth.",
    "Convert the image into its depth map.",
    "Show the distance from the camera for every pixel.",
    "Render a depth estimate of the scene.",
    "Paint the depth of the image.",
    "Depth map of this image, please.",
)
RECONSTRUCTION: tuple[str, ...] = (
    "Reconstruct this image.",
    "Draw this image again.",
    "Reproduce the picture exactly.",
    "Copy the image.",
    "Redraw the scene as it is.",
    "Generate the same image.",
    "Recreate this picture.",
    "Render this image once more.",
    "Make an identical copy of the image.",
    "Repaint the image faithfully.",
    "Reproduce every detail of this image.",
    "Draw exactly what you see.",
    "Rebuild the image from what you see.",
    "Output the same picture.",
    "Reconstruct the input image.",
    "Repeat this image.",
)
PHRASINGS: dict[str, tuple[str, ...]] = {
    "segmentation": SEGMENTATION, "edge": EDGE, "depth": DEPTH, "reconstruction": RECONSTRUCTION,
}


def draw(proxy: str, seed: int, position: int) -> str:
    """The instruction of the proxy sample at ``position`` of its source stream.

    Parameters
    ----------
    proxy
        A key of :data:`PHRASINGS`.
    seed
        The run's data seed.
    position
        The sample's position in its source's stream (grows across epochs, so an image seen again
        in a later epoch usually gets another phrasing).
    """
    phrasings = PHRASINGS[proxy]
    return phrasings[stream_seed(proxy, seed, position) % len(phrasings)]
