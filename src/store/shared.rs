//! placeholder until the shared-store helper lands
