//! placeholder until the crypto helper lands
