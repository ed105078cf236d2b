//! Lock-free bounded rings for the places where a stream crosses threads.
