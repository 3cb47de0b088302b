-- ListClues: a division's clues, nearest verification deadline first.
CREATE INDEX clues_queue ON clues (division, verification_deadline, id);
