"""The lecture's other two recurrent designs, beside language modelling: sequence -> one label
(classification: sentiment, document classes) and sequence -> a label per token (tagging: part of
speech, named entities).

This package holds what is task-specific and model-free: reading labelled and tagged corpora
(``formats``) and scoring predictions (``metrics``). The models' heads live in ``seqtool.models``.
"""
