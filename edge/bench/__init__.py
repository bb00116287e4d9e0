"""`microexpr bench`: speed as a reproducible number, side by side with MediaPipe FaceMesh."""
