"""Scripts run by other interpreters (the Gradio server venvs), not imported by the add-on."""
