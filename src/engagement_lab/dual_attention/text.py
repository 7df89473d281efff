"""Caption tokenisation (hashtags and emoji kept as tokens), the model vocabulary, word2vec word vectors
and gensim LDA."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from gensim.corpora import Dictionary
from gensim.models import CoherenceModel, LdaModel, LdaMulticore, Word2Vec
from gensim.parsing.preprocessing import STOPWORDS

logger = logging.getLogger(__name__)

# Emoji: pictographs, dingbats, symbols and flags, with variation selectors, skin tones and ZWJ sequences.
_EMOJI_CHAR = "\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"
_EMOJI = f"[{_EMOJI_CHAR}](?:[\ufe0f\U0001f3fb-\U0001f3ff]|\u200d[{_EMOJI_CHAR}])*"
_TOKEN = re.compile(rf"(?P<emoji>{_EMOJI})|(?P<tag>[#@]\w+)|(?P<word>\w+(?:'\w+)?)|(?P<symbol>[^\w\s])")

PAD, UNK = "<pad>", "<unk>"


def token_kind(token: str) -> str:
    """``emoji``, ``hashtag``, ``mention``, ``word`` or ``symbol``."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        return "symbol"
    if match.lastgroup == "tag":
        return "hashtag" if token.startswith("#") else "mention"
    return match.lastgroup or "symbol"


def tokenize(caption: str | None, keep_symbols: bool = True) -> list[str]:
    """Lower-cased tokens of a caption: words, ``#hashtags``, ``@mentions``, emoji and (optionally) symbols.

    An emoji keeps its variation selector (❤️ stays one token); a hashtag keeps its ``#`` so
    ``#beach`` and ``beach`` are different tokens, as on Instagram."""
    if caption is None or (isinstance(caption, float) and np.isnan(caption)):
        return []
    tokens = []
    for match in _TOKEN.finditer(str(caption).lower()):
        if match.lastgroup == "symbol" and not keep_symbols:
            continue
        tokens.append(match.group())
    return tokens


def lda_tokens(tokens: Sequence[str]) -> list[str]:
    """Tokens LDA sees: no symbols, no English stop words, no one-letter words."""
    return [t for t in tokens if token_kind(t) != "symbol" and t not in STOPWORDS and len(t) > 1]


@dataclass
class Vocabulary:
    """Token ↔ index for the word-embedding layer, fitted on training captions only."""

    itos: list[str]

    @classmethod
    def fit(cls, docs: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None) -> Vocabulary:
        counts = Counter(t for doc in docs for t in doc)
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        return cls([PAD, UNK, *kept[:max_size]])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, docs: Sequence[Sequence[str]], max_len: int) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (n, max_len), padded with 0, and lengths (at least 1: an empty caption is one <unk>)."""
        stoi = {t: i for i, t in enumerate(self.itos)}
        ids = np.zeros((len(docs), max_len), dtype=np.int64)
        lengths = np.ones(len(docs), dtype=np.int64)
        for row, doc in enumerate(docs):
            codes = [stoi.get(t, 1) for t in doc][:max_len] or [1]
            ids[row, : len(codes)] = codes
            lengths[row] = len(codes)
        return ids, lengths


def fit_word_vectors(
    docs: Sequence[Sequence[str]], vocab: Vocabulary, dim: int, window: int, epochs: int, seed: int
) -> np.ndarray:
    """Skip-gram word2vec on unlabelled text, as the starting point of the trainable word embedding.

    ``docs`` are captions no model is evaluated on (train and the unlabelled middle); one vector per
    entry of ``vocab``, scaled to unit standard deviation like ``nn.Embedding``'s own initialisation.
    Tokens without a vector (``<unk>``, a vocabulary word that ``docs`` lack) keep a seeded N(0, 1) draw;
    ``<pad>`` is zero."""
    texts = [list(d) for d in docs if len(d)]
    if not texts:
        raise ValueError("word2vec has nothing to fit: every caption given is empty")
    # One worker: gensim's word2vec is deterministic for a seed only when single-threaded.
    w2v = Word2Vec(texts, vector_size=dim, window=window, min_count=1, sg=1, epochs=epochs, seed=seed, workers=1)
    vectors = w2v.wv.vectors / (w2v.wv.vectors.std() + 1e-12)
    matrix = np.random.default_rng(seed).normal(0.0, 1.0, (len(vocab), dim)).astype(np.float32)
    known = [(row, w2v.wv.key_to_index[t]) for row, t in enumerate(vocab.itos) if t in w2v.wv.key_to_index]
    for row, key in known:
        matrix[row] = vectors[key]
    matrix[vocab.itos.index(PAD)] = 0.0
    logger.info(
        "word2vec (%d-d) on %d captions: %d of %d vocabulary words have a vector",
        dim,
        len(texts),
        len(known),
        len(vocab) - 2,
    )
    return matrix


@dataclass
class TopicModel:
    """A fitted gensim LDA with its dictionary."""

    dictionary: Dictionary
    lda: LdaModel

    @property
    def num_topics(self) -> int:
        return self.lda.num_topics

    def topic_vectors(self, docs: Sequence[Sequence[str]]) -> np.ndarray:
        """Dense topic distributions (n, num_topics); an empty document gets the uniform vector.

        gensim starts each inference from a random draw of its model-wide random state; reseeding
        per document makes a post's vector depend on its caption only, not on the posts before it."""
        out = np.full((len(docs), self.num_topics), 1.0 / self.num_topics, dtype=np.float32)
        for row, doc in enumerate(docs):
            bow = self.dictionary.doc2bow(lda_tokens(doc))
            if bow:
                self.lda.random_state = np.random.RandomState(0)
                for topic, p in self.lda.get_document_topics(bow, minimum_probability=0.0):
                    out[row, topic] = p
        return out


def fit_lda(
    docs: Sequence[Sequence[str]],
    num_topics: int,
    passes: int,
    iterations: int,
    workers: int,
    seed: int,
    no_below: int = 2,
    no_above: float = 0.5,
    alpha: str | float = "symmetric",
    eta: str | float | None = None,
) -> tuple[TopicModel, dict[str, float]]:
    """Fit LDA on tokenised training captions: ``LdaMulticore`` when ``workers > 1``, else ``LdaModel``.

    Returns the model and its training stats (docs, vocabulary size, seconds, docs/s)."""
    texts = [lda_tokens(d) for d in docs]
    dictionary = Dictionary(texts)
    dictionary.filter_extremes(no_below=no_below, no_above=no_above, keep_n=None)
    corpus = [dictionary.doc2bow(t) for t in texts]
    corpus = [bow for bow in corpus if bow]
    if not corpus or len(dictionary) == 0:
        raise ValueError(
            f"LDA has nothing to fit: {len(docs)} training captions leave an empty vocabulary "
            f"after filtering (no_below={no_below}, no_above={no_above})"
        )
    start = time.perf_counter()
    common = {
        "corpus": corpus,
        "id2word": dictionary,
        "num_topics": num_topics,
        "passes": passes,
        "iterations": iterations,
        "random_state": seed,
        "eta": eta,
        "chunksize": 2000,
    }
    if workers > 1:
        lda = LdaMulticore(workers=workers, alpha=alpha if alpha != "auto" else "symmetric", **common)
    else:
        lda = LdaModel(alpha=alpha, **common)
    seconds = time.perf_counter() - start
    stats = {
        "docs": float(len(corpus)),
        "vocabulary": float(len(dictionary)),
        "seconds": seconds,
        "docs_per_s": len(corpus) * passes / max(seconds, 1e-9),
    }
    logger.info(
        "LDA (%s, %d topics) on %d captions, %d terms: %.1fs",
        type(lda).__name__,
        num_topics,
        len(corpus),
        len(dictionary),
        seconds,
    )
    return TopicModel(dictionary, lda), stats


def coherence(model: TopicModel, docs: Sequence[Sequence[str]], topn: int = 5) -> dict[str, float]:
    """u_mass (corpus co-occurrence) and c_npmi (sliding window) coherence, averaged over topics."""
    texts = [lda_tokens(d) for d in docs]
    corpus = [model.dictionary.doc2bow(t) for t in texts]
    out = {}
    for measure in ("u_mass", "c_npmi"):
        cm = CoherenceModel(
            model=model.lda,
            texts=texts,
            corpus=corpus,
            dictionary=model.dictionary,
            coherence=measure,
            topn=topn,
            processes=1,
        )
        out[measure] = float(np.nanmean(cm.get_coherence_per_topic()))
    return out
