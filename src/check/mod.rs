//! The checker: names, dtypes and symbolic shapes of every model, resolved into a [`Shapes`] side table.

pub mod shapes;

pub use shapes::Shapes;
