"""What the trainer trains on: the lecture's three recurrent designs as tasks.

- ``lm``: language modelling over id streams (teacher forcing, truncated BPTT) - ``LMTask``;
- ``labels``: sequence -> one label (classification: sentiment, document classes) and sequence ->
  a label per token (tagging: part of speech, named entities) - ``LabelTask``, ``TaskSpec``.

Each task gives ``seqtool.training.Trainer`` its steps, loss, validation and metrics. Beside them,
what is task-specific and model-free: reading labelled and tagged files (``formats``), vocabularies,
splits and bucketed batches (``data``, ``batches``), the scores (``metrics``, ``scoring``), and how a
trained model's decisions depend on its input positions (``saliency``). The models' heads live in
``seqtool.models.heads``.
"""
