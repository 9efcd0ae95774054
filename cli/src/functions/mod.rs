//! SKELETON (issue 3)
