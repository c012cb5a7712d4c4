from .cli import main

# Guarded: the workers of ``ingest -j N`` import the main module again.
if __name__ == "__main__":
    main()
