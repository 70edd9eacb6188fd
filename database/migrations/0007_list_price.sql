-- The list price of each vehicle as built (options included), in its currency: what its value
-- depreciates from (processors/signals/equity.py). NULL when the registry does not give it; the
-- catalog's base price of the model stands in.
ALTER TABLE vehicles ADD COLUMN list_price numeric(12, 2) CHECK (list_price > 0);
