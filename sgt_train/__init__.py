"""The SGT training recipe (segmentation as generation mixed with VQA). Arrives with the training issue."""
