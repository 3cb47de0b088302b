//! The supervision service (`yuetan.supervision.v1.SupervisionService`,
//! issue 12) — begun with its pure rules in [`domain`]: the colour of a
//! deadline card and the moments it changes (R-SUP-3), the reproducible
//! monthly sample of closed files (R-SUP-1) and the section score (R-SUP-5).
//! The read model, the consumer of every event, the timers, the roll-up and
//! the API follow the shape of the other services and are not built yet.

pub mod domain;
