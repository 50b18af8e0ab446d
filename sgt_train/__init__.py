"""The SGT training recipe: proxy-as-generation samples mixed with VQA at an exact ratio (``sgt-train``).

``sgt_train.recipe.SGTRecipe`` is the recipe; ``sgt_train/configs/`` holds runnable configs whose first line
is their launch command. Data readers live in ``sgt_train.data``, the tiny UMM in ``sgt_train.models``.
"""
