from .markov_oracle import MarkovChainOracle, countdown_chain, sample_markov_chain

__all__ = ["MarkovChainOracle", "countdown_chain", "sample_markov_chain"]
