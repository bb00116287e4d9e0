"""Face vision: TFLite runtime, models, detection, landmarks, pose, alignment, emotion."""
