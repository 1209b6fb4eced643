"""Names of the per-epoch entries of ``ContrastiveEmbedder.history_``.

A leaf module (no imports): the callbacks that record these entries and the
displays that draw them both import the names from here.
"""

#: Written by skorch: the epoch number, and the mean batch losses.
EPOCH = "epoch"
TRAIN_LOSS = "train_loss"
VALID_LOSS = "valid_loss"

#: Written by ``PairDiagnostics``: the training pairs of sampled batches.
SIMILAR_DISTANCE = "similar_distance"
DISSIMILAR_DISTANCE = "dissimilar_distance"
ACTIVE_FRACTION = "active_fraction"

#: Written by ``ValidationRetrieval``: held-out labelled rows.
VALID_PRECISION_AT_1 = "valid_precision_at_1"
VALID_MAP_AT_R = "valid_map_at_r"

#: Written by ``ValidationPairs``: held-out explicit pairs.
VALID_PAIR_LOSS = "valid_pair_loss"
VALID_PAIR_ROC_AUC = "valid_pair_roc_auc"
