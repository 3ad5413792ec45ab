"""The core ChittyOS services (id, register, registry): clients, catalogue, health, fakes."""
