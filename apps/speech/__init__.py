"""Speech app: keyword spotting and CTC speech recognition from raw waveforms,
with the audio front end inside the model."""
