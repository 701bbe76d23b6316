"""Speech app: keyword spotting from raw waveforms, with the audio front end inside the model."""
