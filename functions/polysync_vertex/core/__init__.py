"""The pure core: validation, job building, state mapping, run model, events. No cloud imports here."""
