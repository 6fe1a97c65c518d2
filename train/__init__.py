"""The thin LoRA/int8 smoke-trainer and the usefulness verdict."""
