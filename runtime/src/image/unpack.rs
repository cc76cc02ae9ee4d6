//! Unpacking image layers (placeholder).
