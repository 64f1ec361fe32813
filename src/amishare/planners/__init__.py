"""Pure planners: what is observed and what is asked, in; a Plan of typed actions, out."""
