"""Constants of the text layer, importable without numpy (the CLI declares its options with them)."""

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
"""Characters the Keras ``Tokenizer`` removes by default."""

LEVELS = ("char", "word", "ngram", "char-ngram", "subword")
