//! `rosey db copy` (filled in below).
